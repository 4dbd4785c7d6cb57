// duckdb_reference.mjs — independent reference results for the Nexmark queries.
//
// Evaluates the Nexmark suite's Flink SQL (nexmark/nexmark,
// nexmark-flink/src/main/resources/queries/qN.sql), translated to DuckDB, over a
// bounded, in-order event set in which every window is closed at the end, and
// writes the query's result rows as CSV. Eddy's end-to-end tests compare Eddy's
// output against this file; nothing here shares code with Eddy.
//
// Usage (from the repository root):
//   node tests/e2e/nexmark/duckdb_reference.mjs --query q5 --events DIR --output FILE
//
// Queries: q0 q1 q2 q3 q4 q5 q7 q8.
//
// Input: DIR/person.csv, DIR/auction.csv, DIR/bid.csv, no header, strings in
// double quotes (a doubled "" inside a string is one "; backslash is an
// ordinary character), all times epoch milliseconds:
//   person.csv:  id,"name","email_address","credit_card","city","state",date_time,"extra"
//   auction.csv: id,"item_name","description",initial_bid,reserve,date_time,expires,seller,category,"extra"
//   bid.csv:     auction,bidder,price,date_time,"extra"
//
// Output: FILE, CSV without header, one row per result row; integers in
// decimal, strings in double quotes (an inner " doubled), times as epoch ms;
// q1's price as an exact decimal with three digits after the point. Rows are
// sorted only to make the file deterministic; the row multiset is the result.
//   q0  auction,bidder,price,dateTime,"extra"
//   q1  auction,bidder,price*0.908,dateTime,"extra"
//   q2  auction,price
//   q3  "name","city","state",id
//   q4  category,avg_price
//   q5  auction,num,window_start
//   q7  auction,bidder,price,dateTime,"extra"
//   q8  id,"name",window_start
//
// Needs @duckdb/node-api in deploy/npm/node_modules (deploy/install-deps.sh
// installs it); it is loaded by path, so NODE_PATH is not needed.

import { createRequire } from 'node:module';
import { existsSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(scriptDir, '..', '..', '..');
const duckdbModule = path.join(repoRoot, 'deploy', 'npm', 'node_modules', '@duckdb', 'node-api');

function die(message) {
  process.stderr.write(`duckdb_reference: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Windows. All arithmetic is on BIGINT epoch milliseconds, as in the input.
// Flink aligns windows to the epoch (offset 0): a tumbling window of size S
// holding t starts at t - (t mod S); a hopping window of size S and slide L
// holds t when start <= t < start + S, start a multiple of L.

// Start of the size-`ms` window that holds time expression `t` (floor, also for t < 0).
const windowStart = (t, ms) => `(${t} - (((${t} % ${ms}) + ${ms}) % ${ms}))`;

// ---------------------------------------------------------------------------
// Queries. Each returns typed columns; `cols` says how each one is printed:
// 'int' decimal integer, 'str' quoted string, 'milli' an integer n printed
// exactly as n/1000 with three decimals.

const QUERIES = {
  // SELECT auction, bidder, price, dateTime, extra FROM bid;
  q0: {
    cols: ['int', 'int', 'int', 'int', 'str'],
    sql: `SELECT auction, bidder, price, date_time, extra FROM bid`,
  },

  // SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
  // Flink's type is DECIMAL(23, 3): exactly price * 908 thousandths.
  q1: {
    cols: ['int', 'int', 'milli', 'int', 'str'],
    sql: `SELECT auction, bidder, CAST(price AS HUGEINT) * 908 AS price_milli, date_time, extra
          FROM bid`,
  },

  // SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
  q2: {
    cols: ['int', 'int'],
    sql: `SELECT auction, price FROM bid WHERE auction % 123 = 0`,
  },

  // SELECT P.name, P.city, P.state, A.id
  // FROM auction AS A INNER JOIN person AS P on A.seller = P.id
  // WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
  q3: {
    cols: ['str', 'str', 'str', 'int'],
    sql: `SELECT P.name, P.city, P.state, A.id
          FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
          WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`,
  },

  // SELECT Q.category, AVG(Q.final) FROM (
  //   SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
  //   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
  //   GROUP BY A.id, A.category) Q
  // GROUP BY Q.category;
  // Flink's AVG over BIGINT is BIGINT: the sum divided by the count in Java
  // long division, which truncates toward zero.
  q4: {
    cols: ['int', 'int'],
    sql: `WITH Q AS (
            SELECT MAX(B.price) AS final, A.category
            FROM auction A, bid B
            WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
            GROUP BY A.id, A.category),
          S AS (
            SELECT category, SUM(CAST(final AS HUGEINT)) AS s, COUNT(*) AS c
            FROM Q GROUP BY category)
          SELECT category,
                 CASE WHEN s >= 0 THEN s // c ELSE -((-s) // c) END AS avg_price
          FROM S`,
  },

  // HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND):
  // per window, the auctions whose bid count is >= the window's maximum count.
  q5: {
    cols: ['int', 'int', 'int'],
    sql: `WITH hop AS (
            SELECT B.auction,
                   ${windowStart('B.date_time', 2000)} - k.range * 2000 AS window_start,
                   ${windowStart('B.date_time', 2000)} - k.range * 2000 + 10000 AS window_end
            FROM bid B CROSS JOIN range(0, 5) AS k(range)),   -- 10 s / 2 s = 5 windows per bid
          AuctionBids AS (
            SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
            FROM hop GROUP BY auction, window_start, window_end),
          CountBids AS (
            SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
            FROM hop GROUP BY auction, window_start, window_end),
          MaxBids AS (
            SELECT MAX(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
            FROM CountBids GROUP BY CountBids.starttime, CountBids.endtime)
          SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime
          FROM AuctionBids JOIN MaxBids
            ON AuctionBids.starttime = MaxBids.starttime
           AND AuctionBids.endtime = MaxBids.endtime
           AND AuctionBids.num >= MaxBids.maxn`,
  },

  // The suite's current q7.sql (window table functions):
  // SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra FROM bid B
  // JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime
  //       FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  //       GROUP BY window_start, window_end) B1
  // ON B.price = B1.maxprice
  // WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
  // BETWEEN includes both ends, so a bid matches when window_start <= dateTime
  // <= window_end: a bid exactly at a window's end also matches that window (it
  // may then appear twice, as in Flink's join).
  q7: {
    cols: ['int', 'int', 'int', 'int', 'str'],
    sql: `WITH B1 AS (
            SELECT MAX(price) AS maxprice,
                   ${windowStart('date_time', 10000)} + 10000 AS window_end
            FROM bid GROUP BY ${windowStart('date_time', 10000)})
          SELECT B.auction, B.bidder, B.price, B.date_time, B.extra
          FROM bid B JOIN B1 ON B.price = B1.maxprice
          WHERE B.date_time BETWEEN B1.window_end - 10000 AND B1.window_end`,
  },

  // SELECT P.id, P.name, P.starttime FROM
  //   (SELECT id, name, window_start AS starttime, window_end AS endtime
  //    FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  //    GROUP BY id, name, window_start, window_end) P
  // JOIN
  //   (SELECT seller, window_start AS starttime, window_end AS endtime
  //    FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  //    GROUP BY seller, window_start, window_end) A
  // ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
  q8: {
    cols: ['int', 'str', 'int'],
    sql: `WITH P AS (
            SELECT id, name, window_start AS starttime, window_start + 10000 AS endtime
            FROM (SELECT id, name, ${windowStart('date_time', 10000)} AS window_start FROM person)
            GROUP BY id, name, window_start),
          A AS (
            SELECT seller, window_start AS starttime, window_start + 10000 AS endtime
            FROM (SELECT seller, ${windowStart('date_time', 10000)} AS window_start FROM auction)
            GROUP BY seller, window_start)
          SELECT P.id, P.name, P.starttime
          FROM P JOIN A
            ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime`,
  },
};

// ---------------------------------------------------------------------------
// Input.

const TABLES = {
  person: [
    ['id', 'BIGINT'], ['name', 'VARCHAR'], ['email_address', 'VARCHAR'],
    ['credit_card', 'VARCHAR'], ['city', 'VARCHAR'], ['state', 'VARCHAR'],
    ['date_time', 'BIGINT'], ['extra', 'VARCHAR'],
  ],
  auction: [
    ['id', 'BIGINT'], ['item_name', 'VARCHAR'], ['description', 'VARCHAR'],
    ['initial_bid', 'BIGINT'], ['reserve', 'BIGINT'], ['date_time', 'BIGINT'],
    ['expires', 'BIGINT'], ['seller', 'BIGINT'], ['category', 'BIGINT'], ['extra', 'VARCHAR'],
  ],
  bid: [
    ['auction', 'BIGINT'], ['bidder', 'BIGINT'], ['price', 'BIGINT'],
    ['date_time', 'BIGINT'], ['extra', 'VARCHAR'],
  ],
};

const sqlString = (s) => `'${s.replaceAll("'", "''")}'`;

function loadSql(table, file) {
  const columns = TABLES[table].map(([n, t]) => `${sqlString(n)}: ${sqlString(t)}`).join(', ');
  // No sniffing: fixed columns and types; '"' quotes and is its own escape, so a
  // backslash is data; quoted "" is the empty string, never NULL; no trimming.
  return `CREATE TABLE ${table} AS SELECT * FROM read_csv(${sqlString(file)},
            columns = {${columns}},
            auto_detect = false, header = false,
            delim = ',', quote = '"', escape = '"',
            allow_quoted_nulls = false, strict_mode = true)`;
}

// ---------------------------------------------------------------------------
// Output: one VARCHAR line per row, built in SQL.

function lineSql(query) {
  const parts = query.cols.map((kind, i) => {
    const c = `c${i}`;
    switch (kind) {
      case 'int':
        return `CAST(${c} AS VARCHAR)`;
      case 'str':
        return `'"' || replace(${c}, '"', '""') || '"'`;
      case 'milli':
        return `(CASE WHEN ${c} < 0 THEN '-' ELSE '' END) || CAST(abs(${c}) // 1000 AS VARCHAR)
                || '.' || lpad(CAST(abs(${c}) % 1000 AS VARCHAR), 3, '0')`;
      default:
        throw new Error(`unknown column kind ${kind}`);
    }
  });
  const names = query.cols.map((_, i) => `c${i}`).join(', ');
  const order = query.cols.map((_, i) => `c${i}`).join(', ');
  // A NULL anywhere would make the whole line NULL; it is reported, not hidden.
  return `SELECT ${parts.join(` || ',' || `)} AS line
          FROM (${query.sql}) AS r(${names})
          ORDER BY ${order}`;
}

// ---------------------------------------------------------------------------

async function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        query: { type: 'string' },
        events: { type: 'string' },
        output: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    die(`${e.message}\nusage: node ${path.relative(process.cwd(), fileURLToPath(import.meta.url))} --query qN --events DIR --output FILE`);
  }
  if (!args.query || !args.events || !args.output) {
    die('usage: --query qN --events DIR --output FILE (all three are required)');
  }
  const query = QUERIES[args.query];
  if (!query) die(`unknown query ${args.query}; known: ${Object.keys(QUERIES).join(' ')}`);
  for (const table of Object.keys(TABLES)) {
    const file = path.join(args.events, `${table}.csv`);
    if (!existsSync(file)) die(`missing input ${file}`);
  }
  if (!existsSync(duckdbModule)) {
    die(`${duckdbModule} is missing; run deploy/install-deps.sh (npm ci --prefix deploy/npm)`);
  }

  const require = createRequire(import.meta.url);
  const { DuckDBInstance } = require(duckdbModule);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();

  for (const table of Object.keys(TABLES)) {
    await connection.run(loadSql(table, path.resolve(args.events, `${table}.csv`)));
  }

  const fd = openSync(args.output, 'w');
  let rows = 0;
  try {
    const result = await connection.stream(lineSql(query));
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const lines = chunk.getColumns()[0];
      for (const line of lines) {
        if (line === null) die(`${args.query}: a result row has a NULL column`);
      }
      writeSync(fd, lines.join('\n') + '\n');
      rows += lines.length;
    }
  } finally {
    closeSync(fd);
  }
  connection.closeSync();
  instance.closeSync?.();
  process.stderr.write(`duckdb_reference: ${args.query}: ${rows} rows -> ${args.output}\n`);
}

main().catch((e) => die(e.stack || String(e)));
