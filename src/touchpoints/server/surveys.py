"""(being written) routes for surveys."""

from fastapi import APIRouter

router = APIRouter()
