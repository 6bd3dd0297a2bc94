"""The format as data is consistent: references name existing columns and the target's whole
key, keys are required, and the load order puts every table after those it needs (but for the
few links set once both rows exist)."""

from qinglian.legacy.spec import FORMAT, ColumnType


def test_references_name_the_whole_key_of_an_existing_table():
    for table in FORMAT:
        for reference in table.references:
            target = FORMAT[reference.table]
            assert all(column in table.positions for column in reference.columns), reference
            assert len(reference.columns) == len(target.key), (table.name, reference)
            if reference.when is not None:
                column, value = reference.when
                assert value in table.column(column).choices, (table.name, reference)


def test_keys_are_required_and_enums_list_their_values():
    for table in FORMAT:
        assert all(table.column(name).required for name in table.key), table.name
        for column in table.columns:
            assert bool(column.choices) == (column.type == ColumnType.ENUM), column
        assert len(set(table.column_names)) == len(table.column_names), table.name


def test_only_a_few_links_point_forward_in_the_load_order():
    forward = {
        (table.name, ", ".join(reference.columns), reference.table)
        for table in FORMAT
        for reference in table.references
        if FORMAT.is_deferred(table, reference)
    }

    assert forward == {
        ("companies", "parent_code", "companies"),
        ("departments", "head", "employees"),
        ("approval_requests", "subject_id", "contracts"),
        ("approval_requests", "subject_id", "payments"),
    }


def test_the_files_and_the_key_of_a_typed_row():
    assert len(FORMAT.files) == 20
    assert FORMAT.files[0] == "companies.csv"
    lines = FORMAT["goods_receipt_lines"]
    row = ("RK-1", 2, "CG-1", 1, "RB400", None, None, None, None)
    assert lines.key_of(row) == ("RK-1", 2)
    assert FORMAT["contracts"].key_of(("CG-1",) + (None,) * 12) == "CG-1"
    assert "contract_lines" in FORMAT.referenced_tables()
    assert "stocktakes" not in FORMAT.referenced_tables()
