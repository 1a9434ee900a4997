"""Reading CSV: header rules, RFC 4180 records, line numbers, byte offsets, recovery from bad rows."""
import pytest

from catalog.imports.csvfile import BadFileError, iter_records, parse_header, split_lines
from catalog.imports.rows import ProductRow, RowError, read_rows


def records(data: bytes, block: int = 7):
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    return list(iter_records(split_lines(blocks)))


def test_header_is_case_insensitive_trimmed_any_order_and_reports_unknown_columns():
    header = parse_header(b" Price ,NAME,colour, Sku \r\n")
    assert header.positions == {"price": 0, "name": 1, "sku": 3}
    assert header.unknown == ("colour",)


@pytest.mark.parametrize("line, message", [
    (b"name,price\n", "required column 'sku' missing"),
    (b"colour,size\n", "required columns 'sku', 'name' missing"),
    (b"sku,name,SKU\n", "column 'sku' appears twice"),
    (b"sku,na\xffme\n", "not valid UTF-8"),
    (b"sku\x00,name\n", "NUL bytes"),
])
def test_bad_headers_are_named(line, message):
    with pytest.raises(BadFileError, match=message):
        parse_header(line)


def test_quoted_commas_quotes_and_line_breaks_keep_line_numbers_and_offsets():
    data = (b'A-1,"Mug, large","He said ""hi""",1\r\n'
            b'A-2,"Two\nline name",x,2\r\n'
            b'A-3,Plain,y,3')
    got = records(data)
    assert [r.fields for r in got] == [["A-1", "Mug, large", 'He said "hi"', "1"],
                                       ["A-2", "Two\nline name", "x", "2"],
                                       ["A-3", "Plain", "y", "3"]]
    assert [r.line for r in got] == [1, 2, 4]
    assert [r.last_line for r in got] == [1, 3, 4]
    assert got[0].end == data.index(b"A-2") and got[1].end == data.index(b"A-3") and got[2].end == len(data)


def test_unterminated_quote_costs_one_row_not_the_rest_of_the_file():
    data = b'B-1,ok,1\nB-2,"broken,2\nB-3,fine,3\nB-4,fine,4\n'
    got = records(data)
    assert [r.fields for r in got] == [["B-1", "ok", "1"], None, ["B-3", "fine", "3"], ["B-4", "fine", "4"]]
    assert got[1].line == 2 and "never closed" in got[1].error and got[1].raw.startswith('B-2,"broken')


def test_text_after_a_closing_quote_and_bad_utf8_are_row_errors():
    got = records(b'C-1,"a"b,1\nC-2,Caf\xe9,2\nC-3,ok,3\n')
    assert got[0].fields is None and "after a closing quote" in got[0].error
    assert got[1].fields is None and got[1].error == "the row is not valid UTF-8"
    assert got[2].fields == ["C-3", "ok", "3"]


def test_rows_validate_every_field_and_blank_lines_are_skipped():
    header = parse_header(b"sku,name,price,active,description\n")
    data = (b"D-1,Lamp,10,yes,\n\r\n"
            b",No sku,1,true,\n"
            b"D-2,,1,true,\n"
            b"D-3,Lamp,-1,true,\n"
            b"D-4,Lamp,1.234,true,\n"
            b"D-5,Lamp,1e3,maybe,\n"
            + b"D-6," + b"x" * 256 + b",1,true,\n")
    rows = list(read_rows(iter_records(split_lines([data])), header))
    assert isinstance(rows[0], ProductRow) and rows[0].price == "10.00" and rows[0].active is True
    errors = [(r.line, r.column) for r in rows[1:]]
    assert errors == [(3, "sku"), (4, "name"), (5, "price"), (6, "price"), (7, "active"), (8, "name")]
    assert all(isinstance(r, RowError) for r in rows[1:])
