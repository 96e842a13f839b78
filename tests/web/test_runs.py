"""The runs reader of the web page (llm/web/runs.py): runs found at any depth, curves sorted into panels, a
broken metrics line named, evaluation reports as tables."""

import pytest

from llm.errors import UserError
from llm.web.runs import curves, find_runs, read_points, read_reports, report_markdown
from tests.helpers.web import write_run


def test_runs_are_found_at_any_depth_and_their_curves_sorted_into_panels(tmp_path):
    write_run(tmp_path / "chain" / "sft")
    (tmp_path / "chain" / "sft" / "checkpoint-5").mkdir()
    (tmp_path / "chain" / "sft" / "checkpoint-5" / "log_history.json").write_text("[]")
    (tmp_path / "notes").mkdir()
    assert find_runs(tmp_path) == ["chain/sft"]
    panels = curves(read_points(tmp_path / "chain" / "sft"))
    assert sorted(panels) == ["KL", "loss", "reward"]
    assert [(p.metric, p.step, p.value) for p in panels["loss"]][-1] == ("eval_loss", 5.0, 1.7)
    assert {p.metric for p in panels["loss"]} == {"loss", "eval_loss"}  # not learning_rate, epoch
    # the half-written last line of metrics.jsonl is left out; the three whole ones are read
    assert [(p.step, p.value) for p in panels["KL"]] == [(1.0, 0.01), (2.0, 0.02), (3.0, 0.03)]


def test_a_broken_metrics_line_is_named_by_file_and_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\nnot json\n{"iteration": 3}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl:2: not a JSON object"):
        read_points(tmp_path)
    with pytest.raises(UserError, match="no such directory"):
        find_runs(tmp_path / "nowhere")


def test_evaluation_reports_become_tables(tmp_path):
    (report,) = read_reports(write_run(tmp_path / "run"))
    assert report.plot == tmp_path / "run" / "eval_roleplay" / "adherence.png"
    table = report_markdown(report)
    assert "| score all | 1.00 | 0.50 |" in table
    assert "| control all | 0.00 | - |" in table
    assert "| speaks for user | 0.00 | 0.25 |" in table
