"""The chunk processor's fast paths give exactly what the plain, line-by-line path gives:
same rows, same errors (line, column, message, values), same skipped duplicates, same items."""
from __future__ import annotations

import random

import pytest

from catalog.imports.chunks import read_chunk
from catalog.imports.csvfile import header_from_names, iter_records, split_lines, text_lines
from catalog.imports.rows import ProductRow, RowReader, is_blank, read_text_rows, tally_rows
from catalog.products import rules
from catalog.products.dynamodb_catalog import plan_writes
from catalog.products.store import ProductIds, created_items, product_id_stream, product_item, take_ids

TRICKY_LINES = [
    b'S-1,Lamp,A lamp.,12.50,true', b'S-2,  Lamp  ,  padded  , 7 ,YES', b'S-3,Lamp,,,', b',Lamp,d,1,true',
    b'S-4,,d,1,true', b'S-5,N,d,abc,true', b'S-6,N,d,-1,1', b'S-7,N,d,1e3,0', b'S-8,N,d,12.345,no',
    b'S-9,N,d,12.340,n', b'S-10,N,d,100000000,off', b'S-11,N,d,99999999.99,On', b'S-12,N,d,007,F',
    b'S-13,N,d,.5,T', b'S-14,N,d,5.,maybe', b'S-15,N,d,Infinity,', b'S-16,N,d,\xd9\xa3,y', b'S-17,N,d,1_000,',
    b'S\x01-18,N,d,1,', b'S\x7f-19,N,d,1,', b'S-20,' + b'n' * 256 + b',d,1,', b'S-21,' + b'n' * 255 + b',d,1,',
    b's' * 65 + b',N,d,1,', b'  ' + b's' * 64 + b'  ,N,d,1,', b'S-22,N,' + b'd' * 4001 + b',1,',
    b'S-23,N,' + b'd' * 4000 + b',1,', b'S-24,N', b'S-25', b'', b'   ', b'\r', b'S-26,N,d,1,true,extra,more',
    b'\xc4\xb0stanbul,N,d,1,', b'STRASSE\xc3\x9f,N,d,1,', b'\xc3\x9cBER-1,\xc3\x9cber,d,1,', b'S-27,"N unterminated,d,1,',
    b'S-28,"N"x,d,1,', b'S-29,N\x00,d,1,', b'S-30,"multi\nline","d\r\nmore",1,', b'S-31,N,"open\nnext', b'  ,  ,  ,  ,  ',
    b'x', b',,,,', b'"","","","",""', b'S\t32,N,d,1,', b'S-33,Tab\tName,d\x01,1,', b's-1,again,d,2,TRUE',
    b'\xef\xbc\xa1SKU,N,d,1,False', b'S-34,N,"quoted ""inner""",1,', b'S-35,N,d"mid,1,', b'S-36,N,d,12.3,',
    b'S-37,N,d,12.,', b'S-38,N,d,0.00,', b'S-39,N,d,-0,', b'S-40,N,d,\xc2\xa012\xc2\xa0,', b'\xc2\xa0S-41\xc2\xa0,N,d,1,',
    b'S-42,\xe2\x80\x83,d,1,', b'\x1cS-43\x1c,N,d,1,', b'S-44,N,d\r,1,', b'S-45,N,d,1,true\r', b'S-46,a\rb,d,1,',
    b'S-47,N,d,1,\xe2\x80\xa8', b'S-48,N\x0bx,d,1,', b'S-49,N,d,1,  true  ', b'S-50,N,d,0.5,1',
]


def reference(data: bytes, names: list[str], first_line: int, skip: frozenset[int]):
    """What read_chunk gave before the fast path: iter_records and every rule on each record, with no
    fast check (RowReader.check_fields), ordinals, skip."""
    reader = RowReader(header_from_names(names))
    rows = (reader.read(record) if record.fields is None else reader.check_fields(record.line, record.fields)
            for record in iter_records(split_lines((data,)), line=first_line) if not is_blank(record))
    return tally_rows(rows, skip)


def tricky_chunk(seed: int, rows: int = 400) -> bytes:
    rnd = random.Random(seed)
    lines = [rnd.choice(TRICKY_LINES) for _ in range(rows)]
    ending = rnd.choice([b"\n", b"\r\n"])
    return ending.join(lines) + rnd.choice([b"", ending])


def random_chunk(seed: int, rows: int = 300) -> bytes:
    """Rows of random characters, biased towards what CSV and the rules treat specially."""
    rnd = random.Random(seed)
    alphabet = ['a', 'B', 'z', '1', '0', '.', ',', ',', ',', '"', '"', ' ', '\r', '\n', '\x00', '\x01', '\t',
                'ß', 'İ', '\u00a0', '\u2028', 'é', '-', 'yes', 'No', 'TRUE', '12.50', '3', '']
    lines = []
    for _ in range(rows):
        fields = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6))) for _ in range(rnd.randint(1, 7))]
        lines.append(",".join(fields))
    return "\n".join(lines).encode("utf-8")


LAYOUTS = [
    ["sku", "name", "description", "price", "active"],
    ["Active", "price", "NAME", "colour", "Sku", "description"],
    ["sku", "name"],
    ["name", "sku", "price"],
    ["description", "sku", "x", "name", "active"],
]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("names", LAYOUTS)
def test_fast_rows_equal_the_line_by_line_rows(seed, names):
    data = (tricky_chunk if seed % 2 else random_chunk)(seed)
    lines = text_lines(data)
    assert lines is not None
    rnd = random.Random(seed)
    count = reference(data, names, 10, frozenset())[3]
    skip = frozenset(rnd.sample(range(count), k=count // 5))
    for first_line, skipped in ((0, frozenset()), (10, skip)):
        expected = reference(data, names, first_line, skipped)
        got = read_text_rows(lines, header_from_names(names), line=first_line, skip=skipped)
        assert got[3] == expected[3]
        assert got[2] == expected[2]
        assert got[1] == expected[1]
        assert list(got[0].items()) == list(expected[0].items())
        assert all(type(row) is ProductRow for row in got[0].values())


def test_read_chunk_takes_the_line_by_line_path_for_bad_utf8_with_the_same_result():
    data = tricky_chunk(99) + b"\nS-90,Caf\xe9,d,1,\nS-91,ok,d,1,\n"
    names = LAYOUTS[0]
    expected = reference(data, names, 5, frozenset({1, 3}))
    chunk = {"index": 0, "header": names, "start": 0, "first_line": 5, "skip": [1, 3], "rows": expected[3]}
    winners, errors, duplicates = read_chunk(data, chunk)
    assert (list(winners.items()), errors, duplicates) == (list(expected[0].items()), expected[1], expected[2])
    assert any(e.message == "the row is not valid UTF-8" for e in errors)
    with pytest.raises(RuntimeError, match="the plan counted"):
        read_chunk(data, {**chunk, "rows": expected[3] + 1})


@pytest.mark.parametrize("data", [
    b"", b"\n", b"a\n", b"a", b"a\r\nb\rc\x0bd\x0ce\x1cf\x1dg\x1eh\xc2\x85i\xe2\x80\xa8j\xe2\x80\xa9k\nl",
    b"\r\n\r\n", b"x\n\n\ny", "é,ü\n東京\n".encode(),
])
def test_text_lines_cut_only_at_line_feeds_as_split_lines_does(data):
    assert text_lines(data) == [line.decode("utf-8") for line in split_lines((data,))]


def test_text_lines_refuse_bad_utf8():
    assert text_lines(b"ok\nCaf\xe9\n") is None


def test_active_spellings_and_canonical_prices_agree_with_the_rules():
    for spelling, value in rules.ACTIVE_SPELLINGS.items():
        assert rules.parse_active(spelling) is value
    for price in ["0.00", "0.50", "1.00", "12.34", "99999999.99", "10000000.00"]:
        assert rules.is_canonical_price(price) and rules.parse_price(price) == price
    for price in ["1", "1.5", "01.00", "00.10", "100000000.00", "1.000", " 1.00", "1.00 ", "\u0661.00", "-1.00",
                  "+1.00", "1,00", ".50", "1.", ""]:
        assert not rules.is_canonical_price(price)


def test_taking_ids_in_one_draw_gives_the_ids_one_by_one_calls_give():
    one_by_one = product_id_stream("imp:3")
    expected = [one_by_one() for _ in range(1001)]
    batched = ProductIds("imp:3")
    assert batched.take(0) == []
    assert batched.take(1) + batched.take(999) + [batched()] == expected
    assert batched() == one_by_one()                      # and the stream goes on alike
    calls = iter(expected)
    assert take_ids(lambda: next(calls), 3) == expected[:3]


def test_created_items_equal_product_item():
    rows = [ProductRow(1, sku.lower(), sku, name, "d", price, active)
            for sku in ("A", "Ab-1", "É") for name in ("Mug", "MUG ß") for price in (None, "0.50")
            for active in (True, False)]
    ids = [f"id{i}" for i in range(len(rows))]
    for import_id in (None, "", "imp_1"):
        items = created_items(rows, ids, "2026-01-01T00:00:00.000000Z", import_id)
        expected = [product_item(r.sku, r.name, r.description, r.price, r.active, i, "2026-01-01T00:00:00.000000Z",
                                 "2026-01-01T00:00:00.000000Z", import_id) for r, i in zip(rows, ids)]
        assert items == expected
        assert [list(item) for item in items] == [list(item) for item in expected]   # same key order


def test_plan_writes_into_an_empty_catalog_creates_every_row_with_ids_in_row_order():
    rows = [ProductRow(i, f"k-{i}", f"K-{i}", f"Name {i}", "", "1.00" if i % 3 else None, i % 4 != 0)
            for i in range(50)]
    winners = {row.key: row for row in rows}
    items, counts, shards = plan_writes("imp_9", winners, {}, "now", product_id_stream("imp_9:0"))
    ids = product_id_stream("imp_9:0")
    assert items == [product_item(r.sku, r.name, r.description, r.price, r.active, ids(), "now", "now", "imp_9")
                     for r in rows]
    assert counts == {"created": 50, "updated": 0, "unchanged": 0} and shards == {"k-"}
