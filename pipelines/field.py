"""The field, the clock and the angle convention: the one home for these facts.

Coordinates follow Next Gen Stats (NGS) as published in the Big Data Bowl data:

* ``x`` runs along the long axis, 0 to 120 yards, end zones included (the goal lines are at
  x = 10 and x = 110); ``y`` runs across, 0 to 53.3 yards.
* ``dir`` (direction of motion) and ``o`` (orientation) are degrees **clockwise from the +y axis**:
  0° points to +y, 90° to +x, 180° to -y, 270° to -x.  So a velocity is
  ``(vx, vy) = s * (sin(dir), cos(dir))``.  This module is the only place that converts between
  that convention and vectors; every other module calls these functions.
* Tracking runs at 10 frames per second.

``play_direction`` is the direction the offense moves: ``"right"`` (towards +x) or ``"left"``.
The simulator works in the offense-moves-right frame and rotates "left" plays by 180° about the
field's centre, which is how the published data relate the two.
"""

from __future__ import annotations

import numpy as np

FIELD_LENGTH = 120.0  # yards, end zones included
FIELD_WIDTH = 53.3  # yards
END_ZONE = 10.0  # yards deep; goal lines at x = 10 and x = 110
HASH_LOW = 23.58  # NFL hash marks, yards from the y = 0 sideline
HASH_HIGH = FIELD_WIDTH - HASH_LOW
FPS = 10  # tracking frames per second
DT = 1.0 / FPS  # seconds per frame

# Physical limits used by the simulator and, later, by the anomaly rules.
MAX_PLAYER_SPEED = 11.0  # yd/s: the fastest NFL ball carriers top out near 10.5 yd/s
MAX_PLAYER_ACCEL = 10.0  # yd/s^2: beyond what a player's legs deliver
ANOMALOUS_SPEED = 12.5  # yd/s: above this a speed is a tracking error, not a player


def ngs_angle(vx, vy):
    """Angle in degrees [0, 360) of the vector (vx, vy) in the NGS convention (clockwise from +y)."""
    return np.mod(np.degrees(np.arctan2(vx, vy)), 360.0)


def unit_from_ngs_angle(angle_deg):
    """Unit vectors (ux, uy) pointing along NGS angles given in degrees."""
    rad = np.radians(angle_deg)
    return np.sin(rad), np.cos(rad)


def rotate_to_left(x, y, angle_deg=None):
    """Turn offense-moves-right coordinates into a play going left (a 180° rotation of the field).

    Returns ``(x, y)`` or ``(x, y, angle)`` when angles are given.  The rotation is its own inverse,
    so the same function also normalises a "left" play to move right.
    """
    x2 = FIELD_LENGTH - np.asarray(x)
    y2 = FIELD_WIDTH - np.asarray(y)
    if angle_deg is None:
        return x2, y2
    return x2, y2, np.mod(np.asarray(angle_deg) + 180.0, 360.0)


def on_field(x, y):
    """Boolean mask: the point lies within the field rectangle (boundaries included)."""
    x = np.asarray(x)
    y = np.asarray(y)
    return (x >= 0.0) & (x <= FIELD_LENGTH) & (y >= 0.0) & (y <= FIELD_WIDTH)
