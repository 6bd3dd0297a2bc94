"""Legacy intake: the history of a group's old systems (approval platform, purchase–sales–inventory,
finance) in the legacy interchange format — one UTF-8 CSV per table — read, checked and
loaded as history for supervision to scan.

- `spec`: the format as data (tables, columns, types, keys, references, load order);
- `reader`: `read_folder(path)` checks a folder completely and returns typed rows or problems;
- `generator` (with `records` and `planting`): realistic history with planted violations of the
  supervision rules, listed in planted.json; `manage.py legacy_generate`;
- `manage.py legacy_check FOLDER`: the reader's verdict on a folder, loading nothing;
- `loader`: `legacy_import(folder)` loads a clean folder as one atomic batch (`ImportBatch`)
  through each app's history writer; `manage.py legacy_import FOLDER`, and the upload page
  (`views`). docs/legacy-import.md describes it.

Nothing imports this app; it sits beside supervision and may import the layers below it.
"""
