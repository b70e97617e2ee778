"""gunicorn's settings: read from the current directory by `gunicorn labelsite.wsgi` (README).

Run gunicorn from the project directory, or name this file with `-c`.
"""

# The DataGym client sends its API token in the URL (`?token=`): the access and error logs
# write `token=[redacted]` instead of its value.
logger_class = "labelsite.gunicorn_logging.GunicornLogger"
