"""EPE and PCK with hand values; NaN predictions."""

import numpy as np
import pytest

from vlm3.metrics import epe, pck, point_errors

NAN = float("nan")


def test_epe_and_pck_hand():
    gt = [[0, 0], [10, 10], [5, 5], [1, 1]]
    pred = [[3, 4], [10, 10], [NAN, 5], [1, 3]]  # errors 5, 0, unparsed, 2
    np.testing.assert_allclose(point_errors(pred, gt), [5, 0, NAN, 2])
    assert epe(pred, gt) == pytest.approx(7 / 3)
    assert pck(pred, gt, [1, 2, 5.0001]) == {1.0: 0.25, 2.0: 0.25, 5.0001: 0.75}
    assert pck(pred, gt, 2.5) == {2.5: 0.5}
    assert np.isnan(epe([[NAN, NAN]], [[1, 1]]))


@pytest.mark.parametrize(
    "call",
    [
        lambda: epe([[1, 2]], [[1, 2], [3, 4]]),
        lambda: epe([], []),
        lambda: epe([[1, 2]], [[NAN, 2]]),
        lambda: pck([[1, 2]], [[1, 2]], [0]),
        lambda: pck([[1, 2]], [[1, 2]], []),
    ],
)
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
