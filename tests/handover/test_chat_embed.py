"""The chat on the tenant's own website: the websites it lists (and only those) may frame the
chat page; a start or a rating from our own chat page passes by its Origin, since a framed
page has no CSRF cookie; a foreign page is refused either way; the admin checks each origin
and shows the tag to paste."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from conversations.models import Conversation
from core.models import Tenant
from handover.models import Handoff
from tests.conftest import login
from tests.factories import make_person, tenant_admin_form

pytestmark = pytest.mark.django_db

SHOP = "https://shop.acme.example"


def _start(client, origin=None, **headers):
    if origin:
        headers["Origin"] = origin
    return client.post(
        "/chat/acme/start", {"text": "hello"}, content_type="application/json", headers=headers
    )


def test_no_other_site_may_frame_the_chat_until_the_tenant_lists_its_website(team, tenant):
    closed = Client().get("/chat/acme/")
    assert closed["X-Frame-Options"] == "SAMEORIGIN"  # our own preview page only
    assert "frame-ancestors 'self';" in closed["Content-Security-Policy"] + ";"

    tenant.chat_website_origins = f"{SHOP}\nhttp://localhost:8080/\n"
    tenant.save()
    framed = Client().get("/chat/acme/")

    assert "X-Frame-Options" not in framed
    policy = framed["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SHOP} http://localhost:8080" in policy
    assert "'none'" not in policy.split("frame-ancestors")[1]
    assert "script-src 'self'" in policy  # the rest of the policy stays
    # every other page still refuses every frame
    other = Client().get("/accounts/login/")
    assert other["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in other["Content-Security-Policy"]


def test_another_tenants_website_does_not_open_this_chat(team, tenant):
    Tenant.objects.create(name="Other", slug="other", chat_website_origins=SHOP)

    response = Client().get("/chat/acme/")

    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert SHOP not in response["Content-Security-Policy"]


def test_a_start_from_our_own_chat_page_needs_no_csrf_cookie_a_foreign_one_is_refused(team):
    framed = Client(enforce_csrf_checks=True)  # a frame on another site: no cookie of ours

    started = _start(framed, "http://testserver")
    foreign = _start(framed, SHOP)
    absent = _start(framed)

    assert started.status_code == 201, started.content
    assert foreign.status_code == 403
    assert absent.status_code == 403
    assert Conversation.objects.count() == 1


def test_behind_a_proxy_the_servers_public_origin_counts_as_its_own(team, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://support.acme.example"]
    framed = Client(enforce_csrf_checks=True)  # TLS ends at the proxy: Django sees http

    assert _start(framed, "https://support.acme.example").status_code == 201
    assert _start(framed, SHOP).status_code == 403


def test_a_foreign_page_is_refused_even_with_a_csrf_token_in_hand(team):
    client = Client(enforce_csrf_checks=True)
    token = client.get("/chat/acme/").cookies["csrftoken"].value

    response = _start(client, SHOP, **{"X-CSRFToken": token})

    assert response.status_code == 403
    assert Conversation.objects.count() == 0


def test_a_rating_from_our_own_chat_page_passes_by_its_origin(team):
    client = Client(enforce_csrf_checks=True)
    body = {"conversationId": "00000000-0000-0000-0000-000000000000", "token": "x", "score": 5}

    ours = client.post(
        "/chat/acme/rate",
        body,
        content_type="application/json",
        headers={"Origin": "http://testserver"},
    )
    foreign = client.post(
        "/chat/acme/rate", body, content_type="application/json", headers={"Origin": SHOP}
    )

    assert ours.status_code == 404  # past the door: no such conversation
    assert foreign.status_code == 403


@pytest.mark.parametrize(
    "bad",
    [
        "shop.acme.example",
        "https://shop.acme.example/help",
        "https://*.acme.example",
        "ftp://shop.acme.example",
        "https://shop.acme.example:99999",
        "https://shop.acme.example 'unsafe-inline'",
        "https://shop.acme.example;script-src *",
        "https://user@shop.acme.example",
        "https://shop.acme.example\x00",
        "https://" + "a" * 64 + ".example",
        "https://shop_acme.example",
        "https://bücher.example",
    ],
)
def test_the_admin_refuses_what_is_no_website_origin(tenant, manager, bad):
    client = login(manager)
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = tenant_admin_form(tenant, chat_website_origins=f"{SHOP}\n{bad}")

    refused = client.post(url, form)
    form["chat_website_origins"] = f"{SHOP}\r\nhttp://localhost:8080\nhttp://[::1]:8000"
    saved = client.post(url, form)

    assert refused.status_code == 200
    page = refused.content.decode()
    assert "is not a website origin" in page or "Null characters are not allowed" in page
    assert saved.status_code == 302, saved.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.chat_origins == [SHOP, "http://localhost:8080", "http://[::1]:8000"]


def test_the_admin_shows_the_tag_to_paste(tenant, manager):
    page = login(manager).get(f"/admin/core/tenant/{tenant.pk}/change/").content.decode()

    assert (
        "/static/handover/embed.js&quot; data-tenant=&quot;acme&quot; "
        "data-color=&quot;#2f5bea&quot; async" in page
    )


def _config(response) -> dict:
    html = response.content.decode()
    start = html.index('id="chat-config"')
    return json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])


def test_the_framed_chat_tells_only_a_listed_website_of_the_conversation(team, tenant):
    tenant.chat_website_origins = "HTTPS://Shop.Acme.example/"  # as a manager may write it
    tenant.save()

    listed = _config(Client().get("/chat/acme/", {"embed": SHOP}))
    unlisted = _config(Client().get("/chat/acme/", {"embed": "https://evil.example"}))
    alone = _config(Client().get("/chat/acme/"))

    assert listed["parentOrigin"] == SHOP
    assert unlisted["parentOrigin"] is None
    assert alone["parentOrigin"] is None


def test_the_preview_page_shows_the_tag_and_frames_the_chat_from_our_own_origin(team, tenant):
    page = Client().get("/chat/acme/preview/")
    framed = _config(Client().get("/chat/acme/", {"embed": "http://testserver"}))

    body = page.content.decode()
    assert page.status_code == 200
    assert 'src="/static/handover/embed.js" data-tenant="acme"' in body
    assert '&lt;script src="http://testserver/static/handover/embed.js" data-tenant="acme"' in body
    assert framed["parentOrigin"] == "http://testserver"  # the preview keeps the conversation
    assert Client().get("/chat/nobody/preview/").status_code == 404


def test_the_team_sees_the_website_page_a_chat_was_started_on(team, tenant, manager):
    tenant.chat_website_origins = SHOP
    tenant.save()
    page = f"{SHOP}/boots/winter?size=42"
    config = _config(Client().get("/chat/acme/", {"embed": SHOP, "page": page}))
    assert config["page"] == page
    elsewhere = _config(
        Client().get("/chat/acme/", {"embed": SHOP, "page": "https://evil.example/"})
    )
    assert elsewhere["page"] is None

    started = Client().post(
        "/chat/acme/start",
        {"text": "I want to talk to a human please", "page": page},
        content_type="application/json",
        headers={"Origin": "http://testserver"},
    )
    stray = Client().post(
        "/chat/acme/start",
        {"text": "hello", "page": "javascript:alert(1)"},
        content_type="application/json",
        headers={"Origin": "http://testserver"},
    )

    assert started.status_code == 201 and stray.status_code == 201
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])
    assert conversation.customer_attributes == {"page": page}
    assert Conversation.objects.get(pk=stray.json()["conversationId"]).customer_attributes == {}
    assert Handoff.objects.filter(conversation=conversation).exists()
    ada = make_person(tenant=tenant, roles=["agent"], username="ada-embed")
    detail = login(ada).get(f"/inbox/conversations/{conversation.pk}/").json()
    assert detail["conversation"]["startedOn"] == page
    read_only = login(manager).get(f"/inbox/conversations/{conversation.pk}/view")
    assert f'href="{SHOP}/boots/winter?size=42"' in read_only.content.decode()


# --- how the chat looks and greets (core/chat_look.py) ------------------------------------------


def test_the_manager_gives_the_chat_its_colour_greeting_and_reply_time(team, tenant, manager):

    url = f"/admin/core/tenant/{tenant.pk}/change/"
    saved = login(manager).post(
        url,
        tenant_admin_form(
            tenant,
            chat_color="#FFEB3B",
            chat_greeting="Hello from Acme!",
            chat_intro="Ask us about boots, coats and hats.",
            chat_reply_time="hours",
        ),
    )

    assert saved.status_code == 302, saved.content.decode()[:3000]
    page = Client().get("/chat/acme/")
    html = page.content.decode()
    assert "Hello from Acme!" in html and "Ask us about boots, coats and hats." in html
    assert "Hi there, how can we help?" not in html
    # a light colour: its text is dark ink, not white
    assert "--brand: #ffeb3b;" in html and "--on-brand: #1d2330" in html
    assert "We usually reply within a few hours" in html
    assert _config(page)["replyTime"] == "We usually reply within a few hours"
    preview = Client().get("/chat/acme/preview/").content.decode()
    assert 'data-color="#ffeb3b"' in preview


def test_the_website_button_reads_the_chats_colour_a_listed_website_only(team, tenant):
    tenant.chat_color = "#ffeb3b"
    tenant.chat_website_origins = SHOP
    tenant.save()

    listed = Client().get("/chat/acme/look", headers={"Origin": SHOP})
    assert listed.status_code == 200
    assert listed.json() == {"color": "#ffeb3b", "onColor": "#1d2330"}
    assert listed["Access-Control-Allow-Origin"] == SHOP
    assert listed["Vary"] == "Origin" and listed["Cache-Control"] == "max-age=60"
    # another site (or another tenant's) may not read it: the browser keeps the answer from it
    foreign = Client().get("/chat/acme/look", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign
    ours = Client().get("/chat/acme/look")  # the preview page, on our own origin
    assert ours.json()["color"] == "#ffeb3b" and "Access-Control-Allow-Origin" not in ours

    tenant.chat_color = "#101820"  # the manager changes it: the next ask hears it
    tenant.save()
    assert Client().get("/chat/acme/look").json() == {"color": "#101820", "onColor": "#ffffff"}
    assert Client().get("/chat/nobody/look").status_code == 404
    assert Client().post("/chat/acme/look").status_code == 405


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("chat_color", "blue", "six hexadecimal digits"),
        ("chat_color", "#12345", "six hexadecimal digits"),
        ("chat_color", "", "required"),
        ("chat_greeting", "x" * 81, "at most 80 characters"),
        ("chat_intro", "x" * 301, "at most 300 characters"),
        ("chat_reply_time", "soon", "not one of the available choices"),
        ("chat_ask_email", "sometimes", "not one of the available choices"),
        ("chat_greeting", "Hi\x00", "Null characters are not allowed"),
    ],
)
def test_a_bad_look_is_a_form_error_and_nothing_changes(team, tenant, manager, field, value, why):

    url = f"/admin/core/tenant/{tenant.pk}/change/"
    refused = login(manager).post(url, tenant_admin_form(tenant, **{field: value}))

    assert refused.status_code == 200
    assert why in refused.content.decode()
    tenant.refresh_from_db()
    assert (tenant.chat_color, tenant.chat_greeting, tenant.chat_reply_time) == (
        "#2f5bea",
        "",
        "minutes",
    )


def test_the_text_on_the_chats_colour_is_whichever_reads_better():
    from types import SimpleNamespace

    from core.chat_look import INK, WHITE, chat_look, contrast

    def look(color):
        return chat_look(
            SimpleNamespace(
                chat_color=color, chat_greeting="", chat_intro="", chat_reply_time="", name="Acme"
            )
        )

    for color, ink in [("#2f5bea", WHITE), ("#ffeb3b", INK), ("#000000", WHITE), ("#ffffff", INK)]:
        assert look(color).on_color == ink, color
        assert contrast(look(color).color, ink) >= 4.5, color
    assert look("not a colour").color == "#2f5bea"  # never written raw into the page
    assert look("#2F5BEA").greeting == "Hi there, how can we help?"
    assert "the Acme team" in look("#2f5bea").intro
    assert look("#2f5bea").reply_time == "We usually reply in a few minutes"
