"""PackedBatchCollator on the project's real QA collator (vlm3.train.data.QACollator) and tiny model:
the packed batch gives the same summed answer-only loss as the padded batch."""

from __future__ import annotations

import pytest
import torch
from _tiny import build_tiny

from vlm3.train.data import QACollator, QADataset
from vlm3.train.model_setup import causal_lm_loss_sum
from vlm3.train.packing import PackedBatchCollator, PackingCollator, use_packed_sdpa
from vlm3.train.trainer import load_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("packqa")
    qa = build_tiny(d, 4, n_q=3)
    model, processor = load_model(str(d / "init"))
    return model.eval(), processor, QADataset(qa)


def test_packed_qa_batch_matches_padded(tiny):
    model, processor, ds = tiny
    records = [ds[i] for i in range(3)]
    inner = QACollator(processor)
    padded = inner(records)
    with torch.no_grad():
        ref_sum, ref_n = causal_lm_loss_sum(model, padded)
    packed = PackedBatchCollator(inner, PackingCollator.from_config(model.config))(records)
    assert packed["input_ids"].shape == (1, int(padded["attention_mask"].sum()))
    use_packed_sdpa(model)
    with torch.no_grad():
        got_sum, got_n = causal_lm_loss_sum(model, packed)
    assert int(got_n) == int(ref_n) > 0
    torch.testing.assert_close(got_sum, ref_sum, rtol=1e-5, atol=1e-4)


def test_shared_prefix_equals_single_turn_samples(tiny):
    """A record trained as one shared prefix + one branch per question gives exactly the summed
    loss of its single-turn conversations (what vlm3.predict asks), in a shorter row."""
    from vlm3.train.data import split_turns

    model, processor, ds = tiny
    records = [ds[i] for i in range(3)]
    assert all(len(r["messages"]) == 6 for r in records)  # 3 questions each
    packer = PackingCollator.from_config(model.config)
    tree = PackedBatchCollator(QACollator(processor, shared_prefix=True), packer)(records)
    singles = [one for r in records for one in split_turns(r)]
    ref = PackedBatchCollator(QACollator(processor), packer)(singles)
    assert tree["input_ids"].shape[1] < ref["input_ids"].shape[1] * 0.6
    assert tree["pixel_values"].shape[0] * 3 == ref["pixel_values"].shape[0]  # images once per record
    use_packed_sdpa(model)
    with torch.no_grad():
        ref_sum, ref_n = causal_lm_loss_sum(model, ref)
        got_sum, got_n = causal_lm_loss_sum(model, tree)
    assert int(got_n) == int(ref_n) > 0
    torch.testing.assert_close(got_sum, ref_sum, rtol=1e-5, atol=1e-5)
    # and the answers' logits themselves
    with torch.no_grad():
        lt = model(**{k: v for k, v in tree.items() if k != "labels"}).logits[0]
        lr = model(**{k: v for k, v in ref.items() if k != "labels"}).logits[0]
    pick = lambda b: (b["labels"][0] != -100).nonzero().flatten() - 1  # noqa: E731
    torch.testing.assert_close(lt[pick(tree)], lr[pick(ref)], rtol=1e-4, atol=1e-5)


def test_shared_prefix_positions_are_the_single_turn_ones(tiny):
    model, processor, ds = tiny
    from vlm3.train.data import split_turns

    rec = ds[0]
    packer = PackingCollator.from_config(model.config)
    tree = PackedBatchCollator(QACollator(processor, shared_prefix=True), packer)([rec])
    singles = [PackedBatchCollator(QACollator(processor), packer)([one]) for one in split_turns(rec)]
    lab = tree["labels"][0]
    # each single's labelled tokens and their 4 position rows appear, in order, in the tree row
    got = [(int(lab[j]), tree["position_ids"][:, 0, j].tolist()) for j in range(lab.numel()) if lab[j] != -100]
    want = [(int(s["labels"][0, j]), s["position_ids"][:, 0, j].tolist())
            for s in singles for j in range(s["labels"].shape[1]) if s["labels"][0, j] != -100]
    assert got == want


def test_group_by_images_merges_questions_of_one_image():
    from vlm3.qa import templates as T
    from vlm3.train.data import group_by_images, split_turns

    a0 = T.make_record("d/s/a/00", "object", "d", "s", ["a.png"], [("q0?", "r0.")], [{"v": 0}])
    b0 = T.make_record("d/s/b/00", "object", "d", "s", ["b.png"], [("q1?", "r1.")], [{"v": 1}])
    a1 = T.make_record("d/s/a/01", "object", "d", "s", ["a.png"], [("q2?", "r2.")], [{"v": 2}])
    merged = group_by_images([a0, b0, a1, a0])
    assert [m["images"] for m in merged] == [["a.png"], ["b.png"], ["a.png"]]
    assert merged[2] == a0  # a repeat of a drawn record stays its own sample
    assert merged[0]["meta"]["targets"] == [{"v": 0}, {"v": 2}] and a0["meta"]["targets"] == [{"v": 0}]
    ones = split_turns(merged[0])
    assert [o["messages"] for o in ones] == [a0["messages"], a1["messages"]]
    assert merged[1] == b0


def test_a_pair_reaches_the_model_as_the_processor_builds_it(tiny):
    """Two-image records (correspondence, pose): the training collators (padded, packed, shared
    prefix) give each question's answer the logits of the processor's own chat of that question with
    both images, in order; swapping the images changes them (each image reaches its own tokens)."""
    from vlm3.qa import templates as T
    from vlm3.train.data import load_images, split_turns

    model, processor, ds = tiny
    a, b = ds[0]["images"][0], ds[1]["images"][0]
    qs = [(T.POSE_QUESTIONS["rotation_angle"], T.rotation_angle_answer(12.5)),
          (T.POSE_QUESTIONS["euler_natural"], T.euler_answer(12.5, -1.0, 0.5))]
    rec = T.make_record("d/s/p0", "pose", "d", "s", [a, b], qs, [{"kind": "rotation_angle", "value": 12.5},
                                                                 {"kind": "euler", "value": [12.5, -1.0, 0.5]}])
    packer = PackingCollator.from_config(model.config)
    use_packed_sdpa(model)

    def answer_logits(batch):
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        rows, cols = (batch["labels"] != -100).nonzero(as_tuple=True)
        return logits[rows, cols - 1]

    refs = []
    for one in split_turns(rec):
        conv = [{"role": m["role"], "content": m["content"]} for m in one["messages"]]
        text = processor.apply_chat_template(conv, tokenize=False)
        enc = processor(text=[text], images=load_images(one["images"]), return_tensors="pt")
        mine = QACollator(processor)([one])
        assert torch.equal(enc["input_ids"], mine["input_ids"])
        labelled = mine["labels"] != -100
        with torch.no_grad():
            lr = model(**enc).logits
            swapped = model(**processor(text=[text], images=load_images(one["images"])[::-1],
                                        return_tensors="pt")).logits
        pick = labelled.nonzero(as_tuple=True)
        refs.append(lr[pick[0], pick[1] - 1])
        assert (swapped[pick[0], pick[1] - 1] - refs[-1]).abs().max() > 1e-4
    ref = torch.cat(refs)
    padded = QACollator(processor)(split_turns(rec))
    packed = PackedBatchCollator(QACollator(processor), packer)(split_turns(rec))
    tree = PackedBatchCollator(QACollator(processor, shared_prefix=True), packer)([rec])
    for batch in (padded, packed, tree):
        torch.testing.assert_close(answer_logits(batch), ref, rtol=1e-4, atol=1e-5)


def test_shared_prefix_gradients_equal_single_turn_samples(tiny):
    """The batched branch attention (one SDPA call per record's branches, gathered and scattered
    back by index) gives the parameters the gradients of the single-turn samples."""
    from vlm3.train.data import split_turns

    model, processor, ds = tiny
    records = [ds[i] for i in range(3)]
    packer = PackingCollator.from_config(model.config)
    tree = PackedBatchCollator(QACollator(processor, shared_prefix=True), packer)(records)
    ref = PackedBatchCollator(QACollator(processor), packer)([one for r in records for one in split_turns(r)])
    use_packed_sdpa(model)
    grads = []
    for batch in (tree, ref):
        model.zero_grad()
        causal_lm_loss_sum(model, batch)[0].backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    model.zero_grad()
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 20
    for name, g in grads[0].items():
        torch.testing.assert_close(g, grads[1][name], rtol=1e-4, atol=1e-5, msg=name)
