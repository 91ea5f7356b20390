"""`ttsops k8s render`: Kubernetes (and Argo Rollouts) manifests of a version."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli import output

app = typer.Typer(
    help="Kubernetes manifests of a version: Deployment or Argo Rollouts canary, offline.",
    no_args_is_help=True,
)


@app.command("render")
def render(
    version: Annotated[
        str, typer.Argument(help="A registered version (its recorded image), or any with --image.")
    ],
    rollouts: Annotated[
        bool,
        typer.Option(
            help="An Argo Rollouts Rollout: canary 10 → 50 → 100 through ingress-nginx, "
            "judged after each step by `ttsops analysis serve`."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory to write the files to; default: one YAML stream on stdout."),
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="Image to run; default: the one the registry recorded.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="baked: the bundle is in the image; store: fetched from --store-url at start. "
            "Default: what the recorded image is (baked with --image)."
        ),
    ] = None,
    store_url: Annotated[
        str | None, typer.Option(help="TTSOPS_STORE_URL of a store image, e.g. s3://bucket/ttsops.")
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(help="TTSOPS_LEDGER_URL of a store image, e.g. postgresql://host/ttsops."),
    ] = None,
    env_secret: Annotated[
        str | None,
        typer.Option(help="A Secret whose keys become the pods' environment (AWS_* for S3)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Name of the objects; default: the bundle's name.")
    ] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of every object.")] = "default",
    replicas: Annotated[int, typer.Option(help="Pods at start; the autoscaler's minimum.")] = 2,
    max_replicas: Annotated[int, typer.Option(help="The autoscaler's maximum.")] = 6,
    gpu: Annotated[int, typer.Option(help="nvidia.com/gpu per pod (0: none).")] = 0,
    cpu: Annotated[str, typer.Option(help="CPU request per pod.")] = "1",
    memory: Annotated[str, typer.Option(help="Memory request per pod.")] = "1Gi",
    memory_limit: Annotated[str, typer.Option(help="Memory limit per pod.")] = "2Gi",
    workers: Annotated[
        int | None,
        typer.Option(help="Syntheses at once per pod; default: the CPU request, rounded up."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Ingress host (an Ingress is rendered with it, always with --rollouts)."),
    ] = None,
    analysis_image: Annotated[
        str | None,
        typer.Option(
            help="Image of the analysis service; needs the gate's scorers (ttsops image "
            "build ... --extra gate). Default: --image's."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {out, files: [{name, kinds, path | yaml}]}.")
    ] = False,
) -> None:
    """Render a version's manifests; validate them offline, apply them with kubectl.

    Without --rollouts: a Deployment (rolling update, never fewer ready pods), Service,
    HorizontalPodAutoscaler, PodDisruptionBudget, ServiceMonitor and ConfigMap, plus an
    Ingress with --host. Pods run non-root on a read-only root file system, are ready only
    after a real synthesis (/readyz) and live while /healthz answers. Nothing talks to a
    cluster.

    Example: ttsops k8s render 1.0.0 --rollouts --host tts.example.com --out k8s/
    """
    from ttsops.k8s import K8sOptions, image_of_version, render_manifests

    if model not in (None, "baked", "store"):
        raise typer.BadParameter(f"--model is baked or store, not {model!r}")
    choice = image_of_version(
        version, image=image, model="store" if model == "store" else "baked" if model else None
    )
    options = K8sOptions(
        name=name or choice.name,
        version=choice.version,
        image=choice.image,
        model=choice.model,
        namespace=namespace,
        replicas=replicas,
        max_replicas=max_replicas,
        gpu=gpu,
        cpu=cpu,
        memory=memory,
        memory_limit=memory_limit,
        workers=workers or _workers(cpu),
        rollouts=rollouts,
        host=host,
        store_url=store_url,
        ledger_url=ledger_url,
        env_secret=env_secret,
        image_id=choice.image_id,
        analysis_image=analysis_image,
    )
    files = render_manifests(options)  # every check and render before any file is written
    kinds = {n: _kinds(text) for n, text in files.items()}
    if out is not None:
        _write(out, files)
    if as_json:
        listing = [
            {"name": n, "kinds": kinds[n], **({"path": str(out / n)} if out else {"yaml": t})}
            for n, t in files.items()
        ]
        output.print_json({"out": str(out) if out else None, "files": listing})
    elif out is None:
        typer.echo("\n---\n".join(text.rstrip("\n") for text in files.values()))
    else:
        for n in files:
            output.info(f"  {out / n}  {', '.join(kinds[n])}")
        what = "Rollout" if rollouts else "Deployment"
        output.success(
            f"{len(files)} files for {options.name} {options.version} ({what}, {options.image}) "
            f"in {out}; apply with: kubectl apply -f {out}"
        )


def _workers(cpu: str) -> int:
    """Whole CPUs of a request such as ``500m`` or ``2``, at least 1."""
    try:
        value = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    except ValueError:
        return 1  # the options' check names the bad quantity
    return max(1, math.ceil(value))


def _kinds(text: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("kind:")]


def _write(out: Path, files: dict[str, str]) -> None:
    """Write each file whole (a temporary file renamed over it): never a half-written one."""
    from ttsops.errors import KubernetesError

    if out.exists() and not out.is_dir():
        raise KubernetesError(f"--out {out} is a file, not a directory; name a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KubernetesError(f"cannot create --out {out}: {exc.strerror}") from None
    for file_name, text in files.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{file_name}.", dir=out)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            Path(tmp).replace(out / file_name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
