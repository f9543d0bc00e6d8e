"""Kubernetes manifests that work as printed (``premarket crontab --kubernetes [--services]``).

Everything runs in the one image ``make image`` (``premarket:cpu``) or ``make image-gpu``
(``premarket:gpu``) builds from the Bento: the three model services, each a Deployment and a
Service, started exactly as the README's ``podman run`` lines start them (which the container
test runs), and the orchestrator's CronJobs, which run ``python -m orchestrator.cli.main
schedule --once`` from the Bento's source folder (``bentofile.yaml`` packs the orchestrator).
With ``--services`` the CronJobs reach the services by their in-cluster names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestrator.data.calendar import parse_slot_time
from orchestrator.jobs.recipes import ONCE_ARGS
from orchestrator.jobs.schedule import GRACE
from premarket.services import ENTRY, TARGETS
from premarket.settings import Settings

BENTO_SOURCE = "/home/bentoml/bento/src"
"""Where the Bento image keeps the packed source (BentoML's ``BENTO_PATH`` plus ``src``)."""
BENTO_HOME = "/home/bentoml/bento"
"""The Bento folder is also a model store: the services other than the entry one load from it."""
PORT = 3000


@dataclass(frozen=True)
class ModelService:
    name: str
    gpu: bool
    """Whether it uses a GPU when one is given (N-HITS is numpy-only)."""

    @property
    def args(self) -> list[str]:
        """The container's arguments after the image: those of the README's ``podman run``
        (none for the Bento's entry service, which the image serves by itself)."""
        if self.name == ENTRY:
            return []
        return ["bentoml", "serve", TARGETS[self.name], "--working-dir", BENTO_SOURCE]

    @property
    def env(self) -> dict[str, str]:
        return {} if self.name == ENTRY else {"BENTOML_HOME": BENTO_HOME}

    @property
    def url(self) -> str:
        """The in-cluster address of its Service."""
        return f"http://premarket-{self.name}:{PORT}"


MODEL_SERVICES = tuple(ModelService(name, gpu=name != "nhits") for name in TARGETS)
q = json.dumps  # JSON strings and lists are valid YAML scalars and flow sequences


def _env_lines(env: dict[str, str], indent: str) -> str:
    return "".join(f"{indent}- name: {k}\n{indent}  value: {q(v)}\n" for k, v in env.items())


def _labels(name: str, indent: int) -> str:
    return f"app: premarket\n{' ' * indent}component: {name}"


def kubernetes_services(*, image: str, gpu: bool = False) -> str:
    """A Deployment and a Service per model service; with ``gpu``, the TFT and sentiment pods
    each ask for one ``nvidia.com/gpu``. Ready when ``/readyz`` answers (the model loaded)."""
    docs = []
    for model in MODEL_SERVICES:
        extra = ""
        if model.args:
            extra += f"          args: {q(model.args)}\n"
        if model.env:
            extra += "          env:\n" + _env_lines(model.env, "            ")
        if gpu and model.gpu:
            extra += "          resources:\n            limits:\n              nvidia.com/gpu: 1\n"
        docs.append(
            f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: premarket-{model.name}
  labels:
    app: premarket
spec:
  replicas: 1
  selector:
    matchLabels:
      {_labels(model.name, 6)}
  template:
    metadata:
      labels:
        {_labels(model.name, 8)}
    spec:
      containers:
        - name: {model.name}
          image: {q(image)}
{extra}          ports:
            - containerPort: {PORT}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {PORT}
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /livez
              port: {PORT}
            initialDelaySeconds: 10
            periodSeconds: 10
            failureThreshold: 6
---
apiVersion: v1
kind: Service
metadata:
  name: premarket-{model.name}
  labels:
    app: premarket
spec:
  selector:
    {_labels(model.name, 4)}
  ports:
    - port: {PORT}
      targetPort: {PORT}
"""
        )
    return "---\n".join(docs)


def _cron_groups(times: list[str]) -> list[tuple[int, list[int]]]:
    """Slots grouped by minute, e.g. 06:30..09:00 -> [(0, [7, 8, 9]), (30, [6, 7, 8])]."""
    groups: dict[int, list[int]] = {}
    for text in times:
        at = parse_slot_time(text)
        groups.setdefault(at.minute, []).append(at.hour)
    return [(minute, sorted(set(hours))) for minute, hours in sorted(groups.items())]


def kubernetes_cronjobs(
    settings: Settings,
    *,
    image: str = "premarket:cpu",
    secret: str = "premarket-secrets",
    claim: str = "premarket-data",
    services: bool = False,
) -> str:
    """CronJob manifests (one per slot minute) with ``timeZone``, for ``kubectl apply -f -``.

    Secrets (tokens, webhooks) come from a Secret, and the SQLite store and breaker state live
    on a PersistentVolumeClaim so slots stay idempotent across pods. ``concurrencyPolicy:
    Forbid`` and a starting deadline inside the grace period keep a late or doubled start from
    running a slot twice. With ``services`` the runs call the ``kubernetes_services``.
    """
    command = q(["python", "-m", "orchestrator.cli.main", *ONCE_ARGS])
    env = {
        "PREMARKET_CONFIG": "",
        "PREMARKET_DATABASE_URL": "sqlite:////data/premarket.db",
        "PREMARKET_STATE_DIR": "/data/state",
    }
    if services:
        env.update({f"PREMARKET_{m.name.upper()}__URL": m.url for m in MODEL_SERVICES})
    docs = []
    for minute, hours in _cron_groups(settings.schedule.slots):
        schedule = f"{minute} {','.join(map(str, hours))} * * 1-5"
        docs.append(
            f"""apiVersion: batch/v1
kind: CronJob
metadata:
  name: premarket-at-minute-{minute:02d}
  labels:
    app: premarket
spec:
  schedule: {q(schedule)}
  timeZone: {q(settings.schedule.timezone)}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {int(GRACE.total_seconds() // 2)}
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 0
      activeDeadlineSeconds: {int(GRACE.total_seconds())}
      template:
        metadata:
          labels:
            app: premarket
        spec:
          restartPolicy: Never
          containers:
            - name: premarket
              image: {q(image)}
              workingDir: {q(BENTO_SOURCE)}
              command: {command}
              envFrom:
                - secretRef:
                    name: {q(secret)}
              env:
{_env_lines(env, "                ")}              volumeMounts:
                - name: data
                  mountPath: /data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: {q(claim)}
"""
        )
    return "---\n".join(docs)
