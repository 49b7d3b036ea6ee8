"""(being written) routes for live."""

from fastapi import APIRouter

router = APIRouter()
