"""A manager opens a labeling project nobody has answered yet: the page says so (HTTP 200), as
`annotate agreement` does, instead of a 500 from measuring agreement on nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.conftest import Setup


def test_manager_page_of_a_project_with_no_answers(client: TestClient, setup: Setup) -> None:
    assert setup.project.meta.annotations.annotations(setup.name) == []
    signed = client.post("/signin", data={"token": setup.tokens["mia"]}, follow_redirects=False)
    assert signed.status_code == 303
    page = client.get(f"/manage/{setup.name}")
    assert page.status_code == 200
    assert f"{setup.name} has no answers yet" in page.text
    report = setup.project.agreement(setup.name)
    assert (report["annotations"], report["tasks"], report["pairs"], report["fleiss_kappa"]) == (
        0,
        0,
        [],
        None,
    )
