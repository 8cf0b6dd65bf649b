"""Found by fuzzing: a Problem's Event was refused when its note was over 1024 bytes.

The apiserver limits an Event's note to 1024 bytes; event_body used to cut it at 1024 characters, so
a note in multi-byte characters (here an unknown field named "ü" * 600, which cronspec quotes in its
message) was refused with 422 and the bad entry got no Event on its ConfigMap. Notes are now cut by
their UTF-8 encoding.
"""

from __future__ import annotations

import pytest
import yaml

from jobsched.core.cronspec import parse_configmap
from jobsched.kube.events import EventRecord, ObjectRef, event_body
from jobsched.runtime.cron.reporter import problem_note as _note


@pytest.mark.parametrize("word", ["ü", "界", "😀"])
def test_a_problem_always_fits_in_an_event_note(word: str) -> None:
    entry = {
        "name": "wide",
        "schedule": "@daily",
        word * 600: 1,
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
    }
    body = {
        "metadata": {"name": "cm", "namespace": "ns"},
        "data": {"a.yaml": yaml.safe_dump({"entries": [entry]})},
    }
    _, problems = parse_configmap(body)
    for problem in problems:
        record = EventRecord(
            ObjectRef("ConfigMap", "ns", "cm"), "Warning", "InvalidCronEntry", "Validating", _note(problem)
        )
        note = event_body(record, 1, "test")["note"]
        assert isinstance(note, str)
        assert len(note.encode("utf-8")) <= 1024
