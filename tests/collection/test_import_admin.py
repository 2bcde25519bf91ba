"""The steward's import flow in the admin: upload, map, preview, start, follow, download."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from collection.models import ImportJob, ImportMapping
from collection.services.imports import import_mapping_save, import_start
from consent.models import AccessLog, ConsentRecord
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db

LEADS_CSV = (
    "Courriel;Prénom;Tel;Stand\r\n"
    "ada@example.org;Ada;06 12 34 56 78;B12\r\n"
    "not-an-email;Bo;;C3\r\n"
    "cy@example.org;Cy;;A1\r\n"
).encode()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def trade_show(make_source: Any) -> Any:
    source, _ = make_source("Salon 2026", kind="trade_show", default_phone_region="FR")
    return source


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:collection_importjob_{name}", args=args)


def upload(client: Client, source: Any, *, follow: bool = False) -> Any:
    return client.post(
        url("add"),
        {
            "source": source.pk,
            "file": SimpleUploadedFile("leads.csv", LEADS_CSV, "text/csv"),
            "mapping": "",
        },
        follow=follow,
    )


MAPPING_POST = {
    "target_0": "email",
    "target_1": "first_name",
    "target_2": "phone",
    "target_3": "traits",
    "trait_3": "stand",
    "delimiter": "",
    "encoding": "",
}


def test_a_steward_uploads_maps_previews_and_starts_an_import(
    admin_client: Client,
    admin_user: Any,
    trade_show: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True

    uploaded = upload(admin_client, trade_show)
    job = ImportJob.objects.get()
    mapping_page = admin_client.get(url("mapping", job.pk))
    mapped = admin_client.post(url("mapping", job.pk), {**MAPPING_POST, "save_as": "Salon"})
    preview = admin_client.get(url("preview", job.pk))
    with django_capture_on_commit_callbacks(execute=True):
        started = admin_client.post(url("start", job.pk))
    change_page = admin_client.get(url("change", job.pk))
    changelist = admin_client.get(url("changelist"))
    report = admin_client.get(url("errors", job.pk))

    assert uploaded.status_code == 302
    assert uploaded["Location"] == url("mapping", job.pk)
    form = mapping_page.context["form"]
    assert [form[f"target_{n}"].value() for n in range(4)] == [
        "email",
        "first_name",
        "phone",
        "traits",
    ]
    assert form["trait_3"].value() == "stand"
    assert mapping_page.context["detected"] == {
        "format": "csv",
        "encoding": "utf-8",
        "delimiter": ";",
    }
    assert mapped.status_code == 302
    assert mapped["Location"] == url("preview", job.pk)
    saved = ImportMapping.objects.get()
    assert (saved.source, saved.name, saved.columns) == (
        trade_show,
        "Salon",
        {"Courriel": "email", "Prénom": "first_name", "Tel": "phone", "Stand": "traits.stand"},
    )
    assert [(row.number, row.errors) for row in preview.context["preview"].rows] == [
        (2, {}),
        (
            3,
            {
                "Courriel": ["invalid email: An email address must have an @-sign."],
                "": ["needs a valid email, phone or external id"],
            },
        ),
        (4, {}),
    ]
    assert preview.context["can_start"] is True
    assert b"Start the import" in preview.content
    assert started.status_code == 302
    assert started["Location"] == url("change", job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.error_rows, job.profiles_created) == (
        "done",
        3,
        1,
        2,
    )
    assert job.created_by == admin_user
    assert job.mapping == saved
    assert Profile.objects.count() == 2
    assert Event.objects.count() == 2
    assert b"100%" in change_page.content
    assert b"3 / 3 rows" in change_page.content
    assert b'http-equiv="refresh"' not in change_page.content
    assert b"Download the error report" in change_page.content
    assert b"<progress" in changelist.content
    assert b"Download (1 row with errors)" in changelist.content
    assert report["Content-Disposition"] == f'attachment; filename="import-{job.pk}-errors.csv"'
    assert b"".join(report.streaming_content).decode("utf-8-sig").splitlines() == [
        "row,column,message,Courriel,Prénom,Tel,Stand",
        "3,Courriel,invalid email: An email address must have an @-sign.,not-an-email,Bo,,C3",
        '3,,"needs a valid email, phone or external id",not-an-email,Bo,,C3',
    ]
    # The file's rows on screen and in the report are personal data: both are audited.
    assert list(AccessLog.objects.order_by("id").values_list("action", "what", "user")) == [
        ("view", "admin:import-preview", admin_user.pk),
        ("export", "admin:import-errors", admin_user.pk),
    ]


def test_the_next_upload_of_a_source_is_proposed_its_last_mapping(
    admin_client: Client, trade_show: Any
) -> None:
    import_mapping_save(
        source=trade_show,
        name="Salon",
        columns={"Courriel": "email", "Prénom": "", "Tel": "traits.office_phone", "Stand": ""},
    )
    upload(admin_client, trade_show)
    job = ImportJob.objects.get()

    page = admin_client.get(url("mapping", job.pk))

    form = page.context["form"]
    assert [form[f"target_{n}"].value() for n in range(4)] == ["email", "", "traits", ""]
    assert form["trait_2"].value() == "office_phone"


def test_the_mapping_page_rereads_the_file_with_other_reading_options(
    admin_client: Client, trade_show: Any
) -> None:
    upload(admin_client, trade_show)
    job = ImportJob.objects.get()

    page = admin_client.get(url("mapping", job.pk), {"read-delimiter": ",", "read-encoding": ""})

    assert page.context["form"].header == ["Courriel;Prénom;Tel;Stand"]
    assert page.context["detected"] == {"format": "csv", "encoding": "utf-8", "delimiter": ","}
    assert page.context["form"]["delimiter"].value() == ","


def test_a_mapping_without_an_identifier_is_refused_on_the_page(
    admin_client: Client, trade_show: Any
) -> None:
    upload(admin_client, trade_show)
    job = ImportJob.objects.get()

    page = admin_client.post(
        url("mapping", job.pk), {**MAPPING_POST, "target_0": "", "target_2": "", "save_as": "X"}
    )

    assert page.status_code == 200
    assert page.context["form"].non_field_errors() == [
        "map at least one column to email, phone or external_id"
    ]
    job.refresh_from_db()
    assert job.columns == {}
    assert ImportMapping.objects.count() == 0


def test_starting_with_a_wrong_delimiter_fails_the_job_with_its_reason(
    admin_client: Client, trade_show: Any
) -> None:
    upload(admin_client, trade_show)
    job = ImportJob.objects.get()
    admin_client.post(url("mapping", job.pk), {**MAPPING_POST, "delimiter": ","})

    preview = admin_client.get(url("preview", job.pk))
    started = admin_client.post(url("start", job.pk), follow=True)

    job.refresh_from_db()
    assert preview.context["can_start"] is False
    assert preview.context["preview"].problems[0].endswith("is the delimiter right?")
    assert job.status == "failed"
    assert escape(job.message) in started.content.decode()
    assert Profile.objects.count() == 0


def test_a_file_over_the_size_limit_is_shown_as_a_failed_import(
    admin_client: Client, trade_show: Any, settings: Any
) -> None:
    settings.CDP_IMPORT_MAX_BYTES = 50

    response = upload(admin_client, trade_show, follow=True)

    job = ImportJob.objects.get()
    assert job.status == "failed"
    assert response.redirect_chain == [(url("change", job.pk), 302)]
    assert (
        "The file is 112 bytes, over the 50 bytes limit for imports; split it into smaller files."
        in response.content.decode()
    )


def test_a_running_import_page_refreshes_itself(
    admin_client: Client, trade_show: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload(admin_client, trade_show)
    job = ImportJob.objects.get()
    admin_client.post(url("mapping", job.pk), MAPPING_POST)
    with django_capture_on_commit_callbacks():
        import_start(job_id=job.pk)

    page = admin_client.get(url("change", job.pk))

    assert b'<meta http-equiv="refresh" content="3">' in page.content
    assert b"0 / 3 rows" in page.content


def test_a_saved_mapping_is_edited_through_the_service(
    admin_client: Client, trade_show: Any
) -> None:
    add = reverse("admin:collection_importmapping_add")

    refused = admin_client.post(
        add,
        {"source": trade_show.pk, "name": "CRM", "columns": '{"Mail": "emial"}', "options": "{}"},
    )
    saved = admin_client.post(
        add,
        {"source": trade_show.pk, "name": "CRM", "columns": '{"Mail": "email"}', "options": "{}"},
    )

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {"columns": ["Mail: unknown target 'emial'"]}
    assert saved.status_code == 302
    mapping = ImportMapping.objects.get()
    assert (mapping.name, mapping.columns) == ("CRM", {"Mail": "email"})


def test_the_import_pages_need_a_staff_login(client: Client, trade_show: Any) -> None:
    response = client.get(url("add"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


ISSUES_CSV = (
    b"Email,Phone,Born,Country,Opt-in newsletter\r\n"
    b"amelie@example.fr,06 12 34 56 78,1990-02-14,FR,oui\r\n"
    b"ben@example.fr,0612,1990-02-31,Atlantis,non\r\n"
    b"cleo@example.fr,,,,\r\n"
)


def _cells(html: str, row_number: int) -> list[str]:
    row = re.search(rf"<tr[^>]*>\s*<td>{row_number}</td>(.*?)</tr>", html, flags=re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), flags=re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]


def test_the_dry_run_shows_what_becomes_a_data_quality_issue_and_the_job_links_to_them(
    admin_client: Client,
    trade_show: Any,
    purposes: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    purposes["partners"].is_active = False
    purposes["partners"].save()
    admin_client.post(
        url("add"),
        {
            "source": trade_show.pk,
            "file": SimpleUploadedFile("salon.csv", ISSUES_CSV, "text/csv"),
            "mapping": "",
        },
    )
    job = ImportJob.objects.get()
    mapping_page = admin_client.get(url("mapping", job.pk))
    form = mapping_page.context["form"]
    proposed = [form[f"target_{n}"].value() for n in range(5)]
    admin_client.post(
        url("mapping", job.pk),
        {f"target_{n}": target for n, target in enumerate(proposed)}
        | {"target_2": "date_of_birth", "delimiter": "", "encoding": ""},
    )

    preview = admin_client.get(url("preview", job.pk)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url("start", job.pk))
    change_page = admin_client.get(url("change", job.pk)).content.decode()

    assert proposed == ["email", "phone", "traits", "country", "consent.newsletter"]
    assert _cells(preview, 2)[-1] == "OK"
    ben = _cells(preview, 3)
    assert ben[-1] == "imported; 3 values become data-quality issues"
    assert "kept out of the profile: invalid phone" in ben[1]
    assert "kept out of the profile: invalid date" in ben[2]
    assert "kept out of the profile: invalid country" in ben[3]
    assert ben[4] == "non"  # no consent given: nothing recorded, not a withdrawal
    job.refresh_from_db()
    assert (job.status, job.error_rows) == ("done", 0)
    link = re.search(r'<p id="import-issues"><a href="([^"]+)">3 values of this', change_page)
    assert link is not None
    issues_page = admin_client.get(unescape(link.group(1)))
    assert issues_page.status_code == 200
    listed = issues_page.context["cl"].result_list
    assert sorted(issue.code for issue in listed) == [
        "invalid_country",
        "invalid_date",
        "invalid_phone",
    ]
    assert ConsentRecord.objects.filter(status="withdrawn").count() == 0
    assert ConsentRecord.objects.filter(status="granted").count() == 1
