#!/usr/bin/env bash
# Usual layering: pipeline config, model config, optional local_config.yaml, experiment id, extra overrides.
#   ./run_training.sh [PIPELINE.yaml] [MODEL.yaml] [EXPERIMENT_ID] [--more.overrides value ...]
# Under sbatch the experiment id defaults to the SLURM job id, so a requeued job resumes its own experiment.
set -euo pipefail
cd "$(dirname "$0")"
PIPELINE=${1:-training_configurations/benchmark_pipelines/demo_sliding_windows.yaml}
MODEL=${2:-training_configurations/efficientnet_lite0/demo_probe_resize.yaml}
EXPERIMENT_ID=${3:-${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}}
EXPERIMENT_ID=${EXPERIMENT_ID:-${SLURM_JOB_ID:-}}
shift $(( $# < 3 ? $# : 3 ))
ARGS=(fit --config "$PIPELINE" --config "$MODEL")
[[ -f local_config.yaml ]] && ARGS+=(--config local_config.yaml)
[[ -n "$EXPERIMENT_ID" ]] && ARGS+=(--experiment_info.experiment_id "$EXPERIMENT_ID")
exec python lightning_main.py "${ARGS[@]}" "$@"
