"""`gankit report RUN_DIR`: one self-contained HTML page about a run (images inlined, no network).

It shows the config, the sample grids over time (a slider), the loss / D-output /
JSD-bound / gradient / diversity curves with the alarms on the timeline, the alarm
list, and the scores of `eval.json`. `serve` regenerates it on every request, so a
browser pointed at it follows a run while it trains.
"""

from __future__ import annotations

import base64
import html
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gankit.config import flat_view
from gankit.errors import GankitError
from gankit.metrics.evaluate import read_eval_json
from gankit.outputs.files import atomic_write_bytes, read_json
from gankit.outputs.logger import read_records
from gankit.outputs.viz import _figure

MAX_GRIDS = 60

PANELS = (
    ("losses", ("loss/d", "loss/g")),
    ("mean D output", ("d/real", "d/fake")),
    ("mean D score (losses without probabilities)", ("logit/real", "logit/fake")),
    ("regularizers", ("reg/r1", "reg/gp")),
    ("value function and JSD bound", ("v/estimate", "jsd/lower_bound")),
    ("gradient norms", ("grad/d", "grad/g")),
    ("sample diversity (fake / real)", ("diversity/ratio", "classes/kl_to_uniform")),
)


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _alarm_item(alarm: dict[str, Any]) -> str:
    """One alarm record as a list item; every value from the record is escaped."""
    started = alarm.get("state") == "start"
    step, name = html.escape(str(alarm.get("step"))), html.escape(str(alarm.get("alarm")))
    message = html.escape(str(alarm.get("message", "")))
    state = "started" if started else "cleared"
    return f"<li class='alarm-{'start' if started else 'clear'}'>step {step}: {name} {state}: {message}</li>"


def _curves_png(records: list[dict[str, Any]], alarms: list[dict[str, Any]]) -> bytes | None:
    steps_of = {key: [r for r in records if key in r] for _, keys in PANELS for key in keys}
    panels = [(title, keys) for title, keys in PANELS if any(steps_of[k] for k in keys)]
    if not panels:
        return None
    plt = _figure()
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.3 * len(panels)), sharex=True, squeeze=False)
    for axis, (title, keys) in zip(axes[:, 0], panels, strict=True):
        for key in keys:
            rows = steps_of[key]
            if rows:
                axis.plot([r["step"] for r in rows], [r[key] for r in rows], label=key, lw=1)
        for alarm in alarms:
            color = "red" if alarm["state"] == "start" else "green"
            axis.axvline(alarm["step"], color=color, lw=0.8, ls=":")
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("step (red: alarm starts, green: alarm clears)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _eval_rows(run_dir: Path) -> list[tuple[str, str]]:
    try:
        metrics = read_eval_json(run_dir / "eval.json")["metrics"]
    except GankitError as err:  # the page says so instead of failing
        return [("eval.json", str(err))]
    rows = []
    for metric, result in metrics.items():
        for key, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("seed",):
                rows.append((f"{metric} / {key}", f"{value:.6g}"))
    return rows


def render_report(run_dir: str | Path, refresh_s: int | None = None) -> str:
    """The report page of `run_dir` as one HTML string (every image a data: URI)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise GankitError(f"{run_dir} is not a run directory (no config.json)")
    config = flat_view(read_json(run_dir / "config.json"))  # either layout, options by name
    records = read_records(run_dir / "metrics.jsonl")
    alarms = [r for r in records if "alarm" in r]
    training = [r for r in records if "alarm" not in r]
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if len(grids) > MAX_GRIDS:
        grids = [grids[round(i * (len(grids) - 1) / (MAX_GRIDS - 1))] for i in range(MAX_GRIDS)]
    images = [(int(p.stem.split("_")[1]), _png_data_uri(p.read_bytes())) for p in grids]
    curves = _curves_png(training, alarms)
    title = f"gankit run: {config.get('model')} on {config.get('dataset')}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{refresh_s}'>" if refresh_s else "",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}"
        ".alarm-start{color:#b00}.alarm-clear{color:#070}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(str(run_dir))} · {len(training)} logged records · "
        f"last step {training[-1]['step'] if training else 0}</p>",
    ]
    if alarms:
        items = "".join(_alarm_item(a) for a in alarms)
        parts.append(f"<h2>Alarms</h2><ul id='alarms'>{items}</ul>")
    else:
        parts.append("<h2>Alarms</h2><p id='alarms'>none</p>")
    if images:
        first_step, first_src = images[-1]
        sources = json.dumps([src for _, src in images])
        steps = json.dumps([step for step, _ in images])
        parts.append(
            "<h2>Samples over training</h2>"
            f"<input id='slider' type='range' min='0' max='{len(images) - 1}' value='{len(images) - 1}' "
            "style='width:100%'>"
            f"<p>step <span id='slider-step'>{first_step}</span></p>"
            f"<img id='samples' class='grid' alt='samples' src='{first_src}'>"
            f"<script>const S={sources},T={steps};const s=document.getElementById('slider');"
            "s.oninput=()=>{document.getElementById('samples').src=S[s.value];"
            "document.getElementById('slider-step').textContent=T[s.value];};</script>"
        )
    if curves is not None:
        parts.append(f"<h2>Training curves</h2><img id='curves' alt='curves' src='{_png_data_uri(curves)}'>")
    scores = _eval_rows(run_dir)
    if scores:
        parts.append("<h2>Evaluation (eval.json)</h2>" + _table(scores))
    parts.append("<h2>Config</h2>" + _table([(k, json.dumps(v)) for k, v in config.items()]))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def write_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.html atomically and return its path."""
    path = Path(run_dir) / "report.html"
    atomic_write_bytes(path, render_report(run_dir).encode("utf-8"))
    return path


def make_server(run_dir: str | Path, port: int = 8000, refresh_s: int = 5) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` (0: any free port) that renders the report on each request."""
    run_dir = Path(run_dir)
    render_report(run_dir)  # fail now, with the reason, if run_dir is not a run

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path not in ("/", "/report.html"):
                self.send_error(404)
                return
            body = render_report(run_dir, refresh_s).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
