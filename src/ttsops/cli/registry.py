"""`ttsops register | versions | show | history | fetch | gc`: the registry's commands."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ttsops.cli import output
from ttsops.cli.register import register

if TYPE_CHECKING:
    from ttsops.registry import Registry, VersionRecord

__all__ = [
    "fetch",
    "gc",
    "history",
    "register",
    "register_commands",
    "service_kind",
    "show",
    "versions",
]

_BAR_MIN_BYTES = 8 << 20
"""Files at least this big get a progress bar while they move."""

_VERSION_COLUMNS = (
    *("VERSION", "NAME", "STAGE", "DIGEST", "GIT SHA"),
    *("TRIGGER", "REGISTERED", "GATE", "STATUS"),
)
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def register_commands(app: typer.Typer) -> None:
    """Add the registry commands at the top level of ``app``."""
    for name, command in (
        ("register", register),
        ("versions", versions),
        ("show", show),
        ("history", history),
        ("fetch", fetch),
        ("gc", gc),
    ):
        app.command(name)(command)


def _open() -> Registry:
    from ttsops.registry import Registry

    return Registry.open()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover - the loop always returns


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _when(stamp: datetime | None) -> str:
    return "" if stamp is None else f"{stamp:%Y-%m-%d %H:%M:%S}"


def _jsonable(value: Any) -> Any:
    """Records to plain JSON values, datetimes as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value  # str enums and scalars are JSON already


def service_kind(manifest: dict[str, Any]) -> str | None:
    """``image`` or ``command`` for a service version's manifest, None for a bundle's."""
    if manifest.get("engine") != "service":
        return None
    return str(manifest.get("engine_options", {}).get("kind") or "service")


def _engine(manifest: dict[str, Any]) -> str:
    kind = service_kind(manifest)
    if kind is not None:
        return f"service ({kind}) @ {manifest['sample_rate']} Hz"
    return f"{manifest['engine']} @ {manifest['sample_rate']} Hz"


def _service_line(reg: Registry, manifest: dict[str, Any]) -> str:
    """What a service version runs (image and id, or command in its directory), from the
    ``service.toml`` blob in the store; ``-`` for a bundle."""
    if service_kind(manifest) is None:
        return "-"
    from ttsops.errors import TtsopsError
    from ttsops.service import SERVICE_MANIFEST, parse_service_manifest

    try:
        import tomllib

        blob = reg.store.read_bytes(manifest["files"][SERVICE_MANIFEST]["sha256"])
        service = parse_service_manifest(tomllib.loads(blob.decode()), where=SERVICE_MANIFEST)
    except (TtsopsError, KeyError, ValueError) as exc:
        return f"(service.toml not readable: {exc})"
    if service.image is not None:
        pinned = f" ({service.image.image_id[:19]}…)" if service.image.image_id else ""
        return f"image {service.image.reference}{pinned}, port {service.port}"
    assert service.command is not None
    import shlex

    return f"command {shlex.join(service.command.argv)} in {service.command.cwd}"


def _status(record: VersionRecord, live: str | None, previous: str | None) -> str:
    if record.version == live:
        return "live"
    if record.version == previous:
        return "previous stable"
    return "collected" if record.collected_at is not None else ""


@contextmanager
def _transfer_bars(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None] | None]]:
    """A per-file progress factory for register/fetch; bars only for big files on a terminal."""
    if not enabled or not output.err_console.is_terminal:
        yield lambda rel, size: None
        return
    with output.byte_progress() as bar:

        def on_file(rel: str, size: int) -> Callable[[int], None] | None:
            if size < _BAR_MIN_BYTES:
                return None
            task = bar.add_task(rel, total=size)
            return lambda n: bar.advance(task, n)

        yield on_file


def versions(as_json: _JsonOpt = False) -> None:
    """List registered versions, newest first, with stage, digest and status."""
    with _open() as reg:
        records = reg.ledger.list_versions()
        live, previous = reg.ledger.live_version(), reg.ledger.previous_stable()
        verdicts = {}
        for report in reversed(reg.ledger.gate_reports()):
            verdicts[report.version] = report.verdict.value
    if as_json:
        output.print_json(
            [
                {
                    **_jsonable(r),
                    "status": _status(r, live, previous),
                    "gate": verdicts.get(r.version),
                    "service": service_kind(r.manifest),
                }
                for r in records
            ]
        )
        return
    if not records:
        output.info("no versions registered yet; add one with `ttsops register DIR`")
        return
    output.table(
        "Versions",
        _VERSION_COLUMNS,
        [
            [
                r.version,
                r.name + (f" ({kind} service)" if (kind := service_kind(r.manifest)) else ""),
                r.stage.value,
                r.digest[:12],
                (r.git_sha or "")[:10],
                r.trigger,
                _when(r.created_at),
                verdicts.get(r.version, ""),
                _status(r, live, previous),
            ]
            for r in records
        ],
    )


def show(
    version: Annotated[str, typer.Argument(help="Version, e.g. 1.2.0 or v1.2.0.")],
    as_json: _JsonOpt = False,
) -> None:
    """Show one version: manifest, file digests, lineage, gate verdicts and deployments."""
    from ttsops.registry import normalize_version

    with _open() as reg:
        rec = reg.ledger.get_version(normalize_version(version))
        status = _status(rec, reg.ledger.live_version(), reg.ledger.previous_stable())
        lineage = _lineage(reg, rec)
        reports = reg.ledger.gate_reports(rec.version)
        deployments = reg.ledger.list_deployments(version=rec.version)
        images = reg.ledger.images(rec.version)
        service = _service_line(reg, rec.manifest)
    if as_json:
        output.print_json(
            {
                **_jsonable(rec),
                "status": status,
                "lineage": lineage,
                "gate_reports": _jsonable(reports),
                "deployments": _jsonable(deployments),
                "images": _jsonable(images),
                "service": service_kind(rec.manifest),
                "runs": None if service == "-" else service,
            }
        )
        return
    m = rec.manifest
    output.fields(
        f"Version {rec.version}",
        [
            ("name", rec.name),
            ("stage", rec.stage.value),
            ("status", status or "registered"),
            ("digest", rec.digest),
            ("engine", _engine(m)),
            ("service", service),
            ("languages", ", ".join(m["languages"])),
            ("voices", ", ".join(m["voices"])),
            ("size", _size(rec.size)),
            ("git sha", rec.git_sha or "-"),
            ("trigger", rec.trigger),
            ("registered", f"{_when(rec.created_at)} UTC"),
            ("collected", f"{_when(rec.collected_at)} UTC" if rec.collected_at else "-"),
            ("lineage", " ← ".join([rec.version, *lineage]) if lineage else "-"),
            ("image", f"{images[0].reference} ({images[0].image_id[:19]}…)" if images else "-"),
        ],
    )
    output.table(
        "Files",
        ["PATH", "SIZE", "SHA256"],
        [
            [rel, _size(int(entry["size"])), entry["sha256"]]
            for rel, entry in sorted(m["files"].items())
        ],
    )
    output.table(
        "Gate reports",
        ["ID", "VERDICT", "BASELINE", "WHEN", "REPORT"],
        [
            [r.id, r.verdict.value, r.baseline or "-", _when(r.created_at), r.report_uri or "-"]
            for r in reports
        ]
        or [["-", "no gate run yet", "", "", ""]],
    )
    if images:
        output.table(
            "Images",
            ["REFERENCE", "ID", "MODEL", "SIZE", "BUILT"],
            [
                [i.reference, i.image_id[:19], i.model, _size(i.size), _when(i.created_at)]
                for i in images
            ],
        )
    cut = output.table(
        "Deployments",
        ["ID", "STRATEGY", "STATE", "CREATED", "FINISHED", "REASON"],
        [
            [d.id, d.strategy, d.state.value, _when(d.created_at), _when(d.finished_at), d.reason]
            for d in deployments
        ]
        or [["-", "never deployed", "", "", "", ""]],
        cut="REASON",
    )
    for n in sorted(cut):  # the table kept them to one line; here they are whole
        output.info(f"#{deployments[n].id} reason: {deployments[n].reason}")


def _lineage(reg: Registry, rec: VersionRecord) -> list[str]:
    """Parents of a version (``name@version`` refs), nearest first, as far as recorded."""
    chain: list[str] = []
    parent = rec.parent
    while parent and parent not in chain and len(chain) < 50:
        chain.append(parent)
        ref = parent.split()[0]
        found = reg.ledger.find_version(ref.split("@", 1)[-1].removeprefix("v"))
        parent = found.parent if found is not None else None
    return chain


def history(
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most rows of each kind.")] = 50,
    version: Annotated[
        str | None, typer.Option("--version", help="Only this version's history.")
    ] = None,
    as_json: _JsonOpt = False,
) -> None:
    """List deployments and events (the audit log), newest first."""
    from ttsops.registry import normalize_version

    wanted = normalize_version(version) if version else None
    with _open() as reg:
        deployments = reg.ledger.list_deployments(version=wanted, limit=limit)
        events = reg.ledger.list_events(version=wanted, limit=limit)
    if as_json:
        output.print_json({"deployments": _jsonable(deployments), "events": _jsonable(events)})
        return
    cut = output.table(
        "Deployments",
        ["ID", "VERSION", "STRATEGY", "STATE", "CREATED", "FINISHED", "REASON"],
        [
            [
                d.id,
                d.version,
                d.strategy,
                d.state.value,
                _when(d.created_at),
                _when(d.finished_at),
                d.reason,
            ]
            for d in deployments
        ]
        or [["-", "no deployments yet", "", "", "", "", ""]],
        cut="REASON",
    )
    cut |= output.table(
        "Events",
        ["WHEN (UTC)", "WHO", "WHAT", "VERSION", "MESSAGE"],
        [[_when(e.at), e.actor, e.kind, e.version or "", e.message] for e in events]
        or [["-", "", "no events yet", "", ""]],
        cut="MESSAGE",
    )
    if cut:
        output.info(
            "Cut to one line (…): `ttsops history --json` has every reason and message "
            "whole, `ttsops show VERSION` a version's reasons."
        )


def fetch(
    version: Annotated[str, typer.Argument(help="Version, e.g. 1.2.0 or v1.2.0.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory to create. Default: the cache.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    as_json: _JsonOpt = False,
) -> None:
    """Materialise a version's bundle from the store, verifying every file's digest.

    Example: ttsops fetch v1.2.0 --out /srv/voices/joe-1.2.0
    """
    with _open() as reg, _transfer_bars(not as_json) as on_file:
        result = reg.fetch(version, out=out, force=force, on_file=on_file)
    files = len(result.record.manifest["files"])
    if as_json:
        output.print_json(
            {
                "version": result.record.version,
                "digest": result.record.digest,
                "path": str(result.path),
                "files": files,
                "reused": result.reused,
            }
        )
        return
    how = "already in the cache, verified" if result.reused else f"{files} files verified"
    output.success(f"{result.record.version} is at {result.path} ({how})")


def gc(
    keep: Annotated[
        int, typer.Option("--keep", min=0, help="How many newest versions to keep stored.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be freed; delete nothing.")
    ] = False,
    as_json: _JsonOpt = False,
) -> None:
    """Delete blobs of old versions; never the live or previous stable version's.

    Ledger rows and history stay; a collected version can be registered again.
    """
    with _open() as reg:
        report = reg.gc(keep=keep, dry_run=dry_run)
    if as_json:
        output.print_json(_jsonable(report))
        return
    kept = ", ".join(f"{v} ({why})" for v, why in report.kept.items()) or "nothing"
    if not report.deleted_blobs and not report.collected:
        output.success(f"gc: nothing to free; kept {kept}")
        return
    verb = "would free" if dry_run else "freed"
    collected = ", ".join(report.collected) or "no version"
    orphans = (
        f" (incl. {_count(len(report.orphans), 'unreferenced blob')})" if report.orphans else ""
    )
    output.success(
        f"gc {verb} {_size(report.freed_bytes)}: {_count(report.deleted_blobs, 'blob')} of "
        f"{collected}{orphans}; kept {kept}"
    )
