"""Entry point: ``python lightning_main.py {fit,validate,test,list_models} --config ... [overrides]``.

``fit`` trains every window/task not yet done (re-running the same command with the same experiment id resumes);
``validate``/``test`` evaluate every finished window from its checkpoint; ``list_models [PATTERN]`` lists the
registered model names. Without ``--dataset_path`` the embedded synthetic demo dataset is built and used.
"""

from __future__ import annotations

import sys

USAGE = """usage: lightning_main.py {fit,validate,test} --config PIPELINE.yaml --config MODEL.yaml [--config local.yaml]
                        [--dataset_path PATH] [--experiment_info.experiment_id ID] [other --key value overrides]
       lightning_main.py list_models [PATTERN]"""

SUBCOMMANDS = ("fit", "validate", "test", "list_models")


def cli_main(args: list[str] | None = None) -> object:
    """Run a subcommand; returns its result (a RunResult, or the list of model names)."""
    called_from_shell = args is None
    if args is None:
        args = sys.argv[1:]
        # LightningCLI gets its arguments from us; leave sys.argv alone only when called from Python.
        sys.argv = sys.argv[:1]
    args = list(args)
    if not args or args[0] in ("-h", "--help") or args[0] not in SUBCOMMANDS:
        print(USAGE)
        if args and args[0] not in ("-h", "--help"):
            raise SystemExit(f"unknown subcommand {args[0]!r}; choose one of {', '.join(SUBCOMMANDS)}")
        return None
    command, rest = args[0], args[1:]
    if command == "list_models":
        from algorithms import list_models

        names = list_models(rest[0] if rest else None)
        print("\n".join(names))
        return names

    from benchmark_pipelines.runner import format_summary, run_evaluate, run_fit, summarize_experiment

    result = run_fit(rest) if command == "fit" else run_evaluate(command, rest)
    if result.interrupted and called_from_shell:
        import signal

        # A signalled stop is not a success: exit like the signal would have (128 + number), after saving.
        raise SystemExit(128 + signal.Signals[result.signal].value)
    stage = "validate" if command == "fit" else command
    summary = summarize_experiment(result.experiment_dir, stage)
    if summary["windows"]:
        print(f"\n{stage} AUROC per window ({result.experiment_dir}):\n{format_summary(summary)}", flush=True)
    return result


if __name__ == "__main__":
    cli_main()
