"""``premarket crontab``: the schedule as crontab lines, a systemd timer, or Kubernetes CronJobs.

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
    parser.add_argument(
        "--systemd",
        type=Path,
        metavar="DIR",
        help="Write premarket.service and premarket.timer into DIR instead (e.g. "
        "~/.config/systemd/user).",
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
    from orchestrator.jobs.recipes import crontab, kubernetes_cronjobs, systemd_units
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
        text = kubernetes_cronjobs(settings, image=args.image, secret=args.secret, claim=args.claim)
    else:
        text = crontab(settings, **paths, command=args.command)
    print(text, end="")
    return 0
