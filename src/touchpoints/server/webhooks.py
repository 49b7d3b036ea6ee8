"""(being written) routes for webhooks."""

from fastapi import APIRouter

router = APIRouter()
