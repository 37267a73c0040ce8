"""Fixtures for the sync tests."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from sync_city import City, make_city


@pytest.fixture
def city_factory() -> Callable[..., City]:
    def build(size: int = 2, seed: int = 1, enrol_all: bool = True) -> City:
        return make_city(random.Random(seed), size, enrol_all=enrol_all)

    return build
