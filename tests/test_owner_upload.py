"""Owner Mode's stock CSV upload says exactly what is wrong with a file; Owner Mode's 404s keep its layout."""

from __future__ import annotations

import io

import pytest

from owner.views import read_stock_csv
from shop.errors import BadRequest
from tests.test_owner_mode import login

NOT_CSV = "this file is not a CSV text file: export it as CSV (UTF-8) from your spreadsheet"


@pytest.fixture
def owner_client(client):
    client.token = login(client)
    return client


def upload(owner_client, data: bytes, chapter="chapter-ii"):
    """Upload a file; the flash message the stock page then shows."""
    response = owner_client.post(
        f"/owner/stock/{chapter}/upload",
        content_type="multipart/form-data",
        data={"csrf_token": owner_client.token, "file": (io.BytesIO(data), "stock.csv")},
    )
    assert response.status_code == 302
    page = owner_client.get("/owner/stock").get_data(as_text=True)
    start = page.index('<p class="flash')
    return page[page.index(">", start) + 1 : page.index("</p>", start)]


def counts(shop, chapter="chapter-ii") -> dict:
    return {r["sku"]: r["on_hand"] for r in shop.inventory.snapshot([chapter])[0]["skus"]}


@pytest.mark.parametrize(
    "data",
    [
        b"SKU,On Hand\nwool-coat/M,3\nridge-knit/L,7\n",
        b"sku;on_hand\r\nwool-coat/M;3\r\nridge-knit/L;7\r\n",
        b"\xef\xbb\xbf Sku ; ON-HAND \nwool-coat/M ; 3\n\nridge-knit/L;7\n",  # Excel's BOM, spaces, a blank line
        b"product,sku,on hand,note\nWool Coat,wool-coat/M,3,\nRidge Knit,ridge-knit/L,7,new\n",
        b"sku\ton_hand\nwool-coat/M\t3\nridge-knit/L\t7\n",
    ],
)
def test_header_variants_and_semicolons_are_accepted(owner_client, shop, data):
    assert upload(owner_client, data) == "Chapter II: 2 SKUs initialized from the CSV."
    found = counts(shop)
    assert (found["wool-coat/M"], found["ridge-knit/L"], found["wool-coat/S"]) == (3, 7, 0)


def test_a_sku_on_two_rows_is_refused_naming_it_and_its_rows(owner_client, shop):
    message = upload(owner_client, b"sku,on_hand\nwool-coat/M,3\nridge-knit/L,7\nwool-coat/M,5\n")
    assert message == (
        "a SKU is on more than one row (wool-coat/M on rows 2, 4): keep one row per SKU and upload again"
    )
    assert not shop.inventory.snapshot(["chapter-ii"])[0]["initialized"]  # nothing written


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # an image
        b"PK\x03\x04\x14\x00\x06\x00",  # an .xlsx (a zip)
        "sku,on_hand\nwool-coat/M,3\n".encode("utf-16"),  # "Unicode text" from a spreadsheet
        "sku,on_hand\nwool-coat/M,3 \xe9t\xe9\n".encode("latin-1"),  # not UTF-8
    ],
)
def test_a_file_that_is_not_csv_text_says_so(owner_client, shop, data):
    assert upload(owner_client, data) == NOT_CSV
    assert not shop.inventory.snapshot(["chapter-ii"])[0]["initialized"]


def test_a_wrong_header_says_which_columns_are_expected(owner_client):
    message = upload(owner_client, b"name|count\nx|1\n")
    assert message == (
        "the CSV needs a header row with the columns sku and on_hand (found: name|count); "
        "separate the columns with commas or semicolons"
    )


def test_a_bad_count_names_the_row_and_the_sku():
    with pytest.raises(BadRequest) as refused:
        read_stock_csv(b"sku,on_hand\nwool-coat/M,3\nridge-knit/L,seven\n")
    assert refused.value.message == "row 3 (ridge-knit/L): write a whole number, not 'seven'"


def test_an_upload_sets_an_initialized_chapter(owner_client, shop):
    shop.inventory.initialize("chapter-ii", {"wool-coat/M": 1, "ridge-knit/L": 1, "ridge-knit/S": 4})
    assert upload(owner_client, b"SKU;On hand\nwool-coat/M;3\n") == "Chapter II: 1 SKUs set from the CSV."
    found = counts(shop)
    assert (found["wool-coat/M"], found["ridge-knit/L"], found["ridge-knit/S"]) == (3, 1, 4)


@pytest.mark.parametrize("path", ["/owner/orders/ord_nothere", "/owner/no-such-page", "/owner/stock/nope/x"])
def test_owner_404s_use_the_owner_layout(owner_client, path):
    response = owner_client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert '<body class="owner">' in html and "Back to Owner Mode" in html
    assert "Back to the shop" not in html and "Traceback" not in html
    if "ord_nothere" in path:
        assert "no order &#39;ord_nothere&#39;" in html


def test_an_anonymous_404_under_owner_shows_no_owner_content(client):
    html = client.get("/owner/no-such-page").get_data(as_text=True)
    assert '<body class="owner">' in html and "Log out" not in html and "Stock</a>" not in html
