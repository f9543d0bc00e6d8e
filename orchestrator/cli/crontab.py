"""``premarket crontab``: the schedule as crontab lines, or as Kubernetes CronJobs.

Both recipes work as printed (``orchestrator.jobs.recipes``): the crontab lines use absolute
paths for the working directory, env file, log and ``premarket`` itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubernetes", action="store_true", help="Print CronJob manifests instead."
    )
    parser.add_argument("--image", default="premarket:latest", help="Bento image (k8s).")
    parser.add_argument("--secret", default="premarket-secrets", help="Secret with the tokens.")
    parser.add_argument("--claim", default="premarket-data", help="PVC for the store (k8s).")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.cwd(),
        help="Working directory of the runs: database and state (default: this one).",
    )
    parser.add_argument(
        "--env-file", type=Path, help="PREMARKET_...= settings and secrets (WORKDIR/premarket.env)."
    )
    parser.add_argument("--log", type=Path, help="Log file (WORKDIR/logs/premarket.log).")
    parser.add_argument(
        "--command", help="Command of the crontab lines (this installation's premarket)."
    )


def run(args: argparse.Namespace) -> int:
    from orchestrator.jobs.recipes import crontab, kubernetes_cronjobs
    from premarket.settings import load_settings

    settings = load_settings()
    if args.kubernetes:
        text = kubernetes_cronjobs(settings, image=args.image, secret=args.secret, claim=args.claim)
    else:
        text = crontab(
            settings,
            workdir=args.workdir,
            env_file=args.env_file or args.workdir / "premarket.env",
            log_file=args.log or args.workdir / "logs" / "premarket.log",
            command=args.command,
        )
    print(text, end="")
    return 0
