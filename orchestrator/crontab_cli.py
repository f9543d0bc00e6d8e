"""``premarket crontab``: the schedule as crontab lines, or as Kubernetes CronJobs."""

from __future__ import annotations

import argparse

from orchestrator.schedule import ONCE_COMMAND


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubernetes", action="store_true", help="Print CronJob manifests instead."
    )
    parser.add_argument("--image", default="premarket:latest", help="Container image (k8s).")
    parser.add_argument("--secret", default="premarket-secrets", help="Secret with the tokens.")
    parser.add_argument("--claim", default="premarket-data", help="PVC for the store (k8s).")
    parser.add_argument("--command", default=ONCE_COMMAND, help="Command of the crontab lines.")


def run(args: argparse.Namespace) -> int:
    from orchestrator.schedule import crontab, kubernetes_cronjobs
    from premarket.settings import load_settings

    settings = load_settings()
    if args.kubernetes:
        text = kubernetes_cronjobs(settings, image=args.image, secret=args.secret, claim=args.claim)
    else:
        text = crontab(settings, args.command)
    print(text, end="")
    return 0
