"""Development and `make run`: embedded defaults, debug on unless told otherwise."""
from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
