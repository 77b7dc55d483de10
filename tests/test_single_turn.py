"""Training samples as evaluated: `split_turns` (train --single-turn) and object answers that name
regions as "Region [i]" (tasks.object.answer_regions: index)."""

import numpy as np
import pytest

from vlm3.predict import questions
from vlm3.qa import templates as T
from vlm3.qa.parse import parse, resolve_choice
from vlm3.qa.pose import pose_turns
from vlm3.train.data import split_turns


def _pose_record():
    c2w_2 = np.eye(4)
    c2w_2[:3, 3] = [0.5, 0.0, 0.1]
    turns, targets, _ = pose_turns(np.eye(4), c2w_2, "fixed")
    return T.make_record("s/test/p0", "pose", "s", "test", ["a.png", "b.png"], turns, targets)


def test_split_turns_gives_each_question_the_conversation_predict_asks():
    rec = _pose_record()
    ones = split_turns(rec)
    assert [o["id"] for o in ones] == [f"s/test/p0#{k}" for k in range(4)]
    asked = questions([rec])
    for k, (one, q) in enumerate(zip(ones, asked)):
        user, answer = one["messages"]
        assert [i for i in user["content"] if i.get("type") == "image"] == [{"type": "image"}] * 2
        assert user["content"][-1] == {"type": "text", "text": q["question"]}
        assert answer == rec["messages"][2 * k + 1]
        assert one["meta"]["targets"] == [rec["meta"]["targets"][k]]
        assert one["images"] == ["a.png", "b.png"]
    # the record itself is untouched, and a single-turn record stays as it is
    assert len(rec["messages"]) == 8
    assert split_turns(ones[2]) == [ones[2]]


def test_split_turns_refuses_non_alternating_messages():
    rec = _pose_record()
    rec["messages"][1], rec["messages"][2] = rec["messages"][2], rec["messages"][1]
    with pytest.raises(ValueError, match="s/test/p0: messages must alternate"):
        split_turns(rec)


BOXES = [[100, 200, 300, 400], [500, 600, 700, 800]]


@pytest.mark.parametrize("value", [0, 1])
def test_index_regions_choice_answer_parses_to_the_same_region(value):
    filled = T.object_answer("left_choice", 0, BOXES, value, "fixed")
    index = T.object_answer("left_choice", 0, BOXES, value, "fixed", regions="index")
    assert filled == f"bounding box region ({', '.join(map(str, BOXES[value]))}) is more to the left."
    assert index == f"Region [{value}] is more to the left."
    assert resolve_choice(parse("choice", index), BOXES) == value == resolve_choice(parse("choice", filled), BOXES)


def test_index_regions_quantitative_and_predicate_answers():
    assert T.object_answer("width_data", 0, BOXES[:1], 1.234, "fixed", regions="index") == "Region [0] is 01.23 meters wide."
    ans = T.object_answer("behind_predicate", 1, BOXES, False, "fixed", regions="index")
    assert ans == "Incorrect, Region [0] is not at all behind Region [1]."
    assert parse("yesno", ans) is False
    with pytest.raises(ValueError, match="answer regions must be one of"):
        T.object_answer("width_data", 0, BOXES[:1], 1.0, regions="boxes")
