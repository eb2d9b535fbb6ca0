"""The NGS angle convention and the left/right rotation: one place, checked here."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.field import FIELD_LENGTH, FIELD_WIDTH, ngs_angle, on_field, rotate_to_left, unit_from_ngs_angle


@pytest.mark.parametrize(("vx", "vy", "angle"), [(0, 1, 0), (1, 0, 90), (0, -1, 180), (-1, 0, 270), (1, 1, 45)])
def test_ngs_angles_are_clockwise_from_plus_y(vx, vy, angle):
    assert ngs_angle(vx, vy) == pytest.approx(angle)


def test_angle_and_unit_vector_round_trip():
    angles = np.linspace(0, 359, 50)
    ux, uy = unit_from_ngs_angle(angles)
    assert np.allclose(ngs_angle(ux, uy), angles)


def test_rotation_to_left_is_its_own_inverse_and_turns_angles_around():
    x, y, a = rotate_to_left(np.array([10.0, 60.0]), np.array([5.0, 26.65]), np.array([90.0, 300.0]))
    assert np.allclose(x, [FIELD_LENGTH - 10, 60]) and np.allclose(y, [FIELD_WIDTH - 5, FIELD_WIDTH - 26.65])
    assert np.allclose(a, [270.0, 120.0])
    x2, y2 = rotate_to_left(x, y)
    assert np.allclose(x2, [10, 60]) and np.allclose(y2, [5, 26.65])


def test_on_field():
    assert on_field([0, 120, 60], [0, 53.3, 20]).all()
    assert not on_field([-0.01, 60], [10, 53.31]).any()
