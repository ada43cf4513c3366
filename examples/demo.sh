#!/usr/bin/env bash
# The main job: keep a back office in step with a point of sale.
#
# Run from the repository root, with syncline installed in the active environment
# (pip install -e .). The databases go to $SYNCLINE_EXAMPLE_DIR (default ./examples/work).
set -euo pipefail

export SYNCLINE_EXAMPLE_DIR="${SYNCLINE_EXAMPLE_DIR:-examples/work}"

step() { printf '\n==> %s\n' "$*"; }

step "Build a sample POS database (2,000 items) and an empty back office"
python examples/build_pos.py

step "The models of the job, in dependency order (parents first)"
syncline import pos-example --list-models

step "Dry run: compute every change, write nothing"
syncline import pos-example --dry-run

step "The same, row by row, for one model only"
syncline import pos-example --dry-run --diff department

BACKOFFICE="sqlite:///$SYNCLINE_EXAMPLE_DIR/backoffice.db"

step "Keep versions of every change to the back office (SQLAlchemy-Continuum's tables)"
syncline versions enable department vendor product --target "$BACKOFFICE"

step "The real import: one transaction (and one version per record)"
syncline import pos-example --runas demo --comment "initial load from the POS"

step "A price changes at the register"
python examples/build_pos.py --edit

step "Re-sync: just that one change"
syncline import pos-example --diff --runas alice --comment "price change at the register"

step "The history of the edited product: who changed what, when and why"
upc=$(python -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT upc FROM item ORDER BY upc LIMIT 1').fetchone()[0])" "$SYNCLINE_EXAMPLE_DIR/pos.db")
syncline history product "$upc" --target "$BACKOFFICE"
