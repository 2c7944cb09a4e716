"""The orchestration: search spaces, Ray Tune trials, MLflow tracking, promotion and the CLI."""
