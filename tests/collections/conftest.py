from __future__ import annotations

import pytest

from dam.context import Context
from tests.web.support import Users


@pytest.fixture
def users(ctx: Context) -> Users:
    return Users(ctx)
