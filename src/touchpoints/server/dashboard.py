"""(being written) routes for dashboard."""

from fastapi import APIRouter

router = APIRouter()
