# Everyday commands. Each recipe is a plain cargo command; `cargo install just` to use them.

# Every test; PostgreSQL tests run when 127.0.0.1:5432 answers.
test:
    cargo test --workspace

# Every test, failing if PostgreSQL is unreachable (what CI runs).
test-pg:
    ROSTER_TEST_POSTGRES=require cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Serve on http://127.0.0.1:8080 with the embedded SQLite database (roster.db).
run:
    cargo run --release -p roster-http

# Write the OpenAPI document to openapi.json.
openapi:
    cargo run -q -p roster-http -- openapi > openapi.json

# Everything CI does.
ci:
    .ci/run

# Fuzz the API with schemathesis on SQLite and PostgreSQL (pip install schemathesis).
fuzz examples="50":
    scripts/fuzz --max-examples {{examples}}

# Benchmark the user list, the dashboard and the access gate with a million users on SQLite and
# PostgreSQL (results in bench/results).
bench users="1000000":
    cargo run --release -p roster-bench -- users-list --database sqlite --users {{users}}
    cargo run --release -p roster-bench -- users-list --database postgres --users {{users}}
    cargo run --release -p roster-bench -- access --database sqlite --users {{users}}
    cargo run --release -p roster-bench -- access --database postgres --users {{users}}

# Benchmark the AI gateway's calls (entitlements, reservation + commit) under 16 concurrent
# clients, next to a hello-world and a raw UPDATE baseline (results in bench/results).
bench-gateway:
    cargo run --release -p roster-bench -- gateway --database sqlite
    cargo run --release -p roster-bench -- gateway --database postgres

# Reservation + commit pairs against raw UPDATEs at more concurrent clients (printed only).
bench-gateway-clients clients="64 256":
    for n in {{clients}}; do for db in sqlite postgres; do cargo run --release -p roster-bench -- gateway --database $db --case pairs --case raw-update --concurrency $n; done; done

# Benchmark the CSV import (100,000 rows) next to the database's own bulk load, and the streamed
# export of a million users next to its own CSV dump, with the server's peak memory (results in
# bench/results).
bench-transfer rows="100000" users="1000000":
    cargo run --release -p roster-bench -- transfer --database sqlite --import-rows {{rows}} --export-users {{users}}
    cargo run --release -p roster-bench -- transfer --database postgres --import-rows {{rows}} --export-users {{users}}
