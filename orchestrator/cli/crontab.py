"""``premarket crontab``: the schedule as crontab lines, a systemd timer, or Kubernetes CronJobs
(with ``--services``, the three model services' Deployments too).

The recipes work as printed (``orchestrator.jobs.recipes``, ``orchestrator.jobs.kubernetes``):
the crontab lines use absolute paths for the working directory, env file, log and ``premarket``
itself; the manifests run the image ``make image`` or ``make image-gpu`` builds.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubernetes", action="store_true", help="Print CronJob manifests instead."
    )
    parser.add_argument(
        "--systemd",
        type=Path,
        metavar="DIR",
        help="Write premarket.service and premarket.timer into DIR instead (e.g. "
        "~/.config/systemd/user).",
    )
    parser.add_argument(
        "--services",
        action="store_true",
        help="With --kubernetes: the model services' Deployments and Services too, and the "
        "CronJobs calling them.",
    )
    parser.add_argument(
        "--gpu", action="store_true", help="With --services: a GPU each for the TFT and sentiment."
    )
    parser.add_argument(
        "--image", help="The image (k8s; default premarket:cpu, premarket:gpu with --gpu)."
    )
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
    from orchestrator.jobs.kubernetes import kubernetes_cronjobs, kubernetes_services
    from orchestrator.jobs.recipes import crontab, systemd_units
    from premarket.settings import load_settings

    settings = load_settings()
    paths = {
        "workdir": args.workdir,
        "env_file": args.env_file or args.workdir / "premarket.env",
        "log_file": args.log or args.workdir / "logs" / "premarket.log",
    }
    if args.systemd is not None:
        args.systemd.mkdir(parents=True, exist_ok=True)
        for name, text in systemd_units(settings, **paths, command=args.command).items():
            (args.systemd / name).write_text(text)
            print(f"wrote {args.systemd / name}")
        print(
            "then: systemctl --user daemon-reload && systemctl --user enable --now premarket.timer"
        )
        return 0
    if args.kubernetes:
        image = args.image or ("premarket:gpu" if args.gpu else "premarket:cpu")
        text = kubernetes_cronjobs(
            settings, image=image, secret=args.secret, claim=args.claim, services=args.services
        )
        if args.services:
            text = kubernetes_services(image=image, gpu=args.gpu) + "---\n" + text
    else:
        text = crontab(settings, **paths, command=args.command)
    print(text, end="")
    return 0
