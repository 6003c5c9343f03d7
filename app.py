"""The one entrypoint: `flask run`, `gunicorn app:app` and Vercel all load this."""

from shop import create_app

app = create_app()
