"""Deployment profiles (Postgres instance storage, Celery workers, Kubernetes): see docs/DEPLOY.md."""
