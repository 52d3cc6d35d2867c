"""The `runs / show / logs / cancel / use` sub-commands, parsed the same way by `%acr` and `acrmagic`."""

from __future__ import annotations

#: the verbs of `task` (`acrmagic task VERB`, `%acr task VERB`, `%acrtask VERB`), as az acr task has them
TASK_VERBS = ("create", "show", "list", "update", "delete", "run", "enable", "disable", "list-runs")


def add_history_commands(sub) -> None:
    """Add the history and target verbs to a sub-parser set (`%acr VERB` and `acrmagic VERB` share them)."""
    from .options import top_count  # here: `%load_ext` reads TASK_VERBS and builds no parser

    runs = sub.add_parser("runs", help="list runs, newest first", add_help=False)
    runs.add_argument("-h", "--help", action="help", help="show this help")
    runs.add_argument("--status", help="only runs with this status (Succeeded, Failed, Running, ...)")
    runs.add_argument("--task", help="only runs of this task")
    runs.add_argument("--top", type=top_count, help="at most this many runs")
    runs.add_argument("-o", "--output", choices=["table", "json"], default="table")
    for verb, text in (("show", "one run's record"), ("logs", "one run's full log"), ("cancel", "cancel a run")):
        sp = sub.add_parser(verb, help=text, add_help=False)
        sp.add_argument("-h", "--help", action="help", help="show this help")
        sp.add_argument("run_id", metavar="RUN_ID")
        if verb == "show":
            sp.add_argument("-o", "--output", choices=["table", "json"], default="table")
    use = sub.add_parser("use", add_help=False, help="choose where runs go: an ACR registry, the emulator, or local",
                         description="Without arguments: where runs go now, and with which credential. "
                                     "Environment: ACRMAGIC_TARGET (local, an ACR name, emulator:FILE) overrides "
                                     "`use`; ACRMAGIC_REGISTRY is the registry local runs push to (default "
                                     "localhost:5000).")
    use.add_argument("-h", "--help", action="help", help="show this help")
    use.add_argument("registry", nargs="?", metavar="REGISTRY",
                     help="an ACR registry name (or `local`, or a registry address such as localhost:5000)")
    use.add_argument("-g", "--resource-group", help="the registry's resource group (default: looked up)")
    use.add_argument("--subscription", help="the subscription ID (default: AZURE_SUBSCRIPTION_ID or the default)")
    use.add_argument("--identity", nargs="?", const="system", metavar="CLIENT_ID",
                     help="log in with a managed identity: system-assigned, or user-assigned by client id")
    use.add_argument("--emulator", metavar="CONFIG_FILE", help="the ACR emulator described by this JSON file")
