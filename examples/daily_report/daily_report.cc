// Daily report: the end-of-day ETL over a day's sales files. Reads every CSV file of
// --input (an s3:// prefix, a file:// URI or a local directory; names starting with '.' or
// '_' are skipped), totals the sales per store and writes one line per store to --output
// (an s3:// prefix or a directory). Bounded: the job ends when the files are read. With
// `-D execution.checkpointing.interval=1s` the report is written exactly once even if a
// TaskManager dies (the file sink publishes its parts with the final checkpoint).
//
//   input  timestamp_ms,store,product,quantity,price_cents     (--header: files start
//                                                               with a header line)
//   output store,orders,units,revenue_cents
//
//   eddy run build/examples/daily_report.so -p 4 -D execution.checkpointing.interval=1s
//       -- --input s3://sales/2024-06-01 --output s3://reports/2024-06-01 --header
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/job.h"
#include "examples/common/example_io.h"

namespace {

/// One store's totals; a sale is the totals of one order.
struct StoreTotals {
  std::string store;
  int64_t orders = 0;
  int64_t units = 0;
  int64_t revenue_cents = 0;
};
EDDY_FIELDS(StoreTotals, store, orders, units, revenue_cents);

/// Parses a sale row; throws quoting the row if it is malformed.
StoreTotals ParseSale(const std::vector<std::string>& row) {
  int64_t timestamp = 0;
  int64_t quantity = 0;
  int64_t price = 0;
  if (row.size() != 5 || row[1].empty() || !eddy::examples::ParseInt(row[0], &timestamp) ||
      !eddy::examples::ParseInt(row[3], &quantity) || !eddy::examples::ParseInt(row[4], &price)) {
    std::string line;
    for (const std::string& field : row) line += (line.empty() ? "" : ",") + field;
    throw std::invalid_argument("malformed sale '" + line +
                                "': expected timestamp_ms,store,product,quantity,price_cents");
  }
  return StoreTotals{row[1], 1, quantity, quantity * price};
}

StoreTotals Add(const StoreTotals& a, const StoreTotals& b) {
  return StoreTotals{a.store, a.orders + b.orders, a.units + b.units,
                     a.revenue_cents + b.revenue_cents};
}

std::string ReportLine(const StoreTotals& t) {
  return t.store + "," + std::to_string(t.orders) + "," + std::to_string(t.units) + "," +
         std::to_string(t.revenue_cents);
}

}  // namespace

EDDY_JOB(daily_report) {
  using namespace eddy;
  connectors::files::FileSourceOptions opts;
  opts.name = "Sales";
  job.source(connectors::files::csv_rows(args.require("input"), ',',
                                         /*skip_header=*/args.has("header"), opts))
      .map(ParseSale, "Parse")
      .key_by(&StoreTotals::store)
      .reduce(Add, "PerStore")
      .sink(
          connectors::files::file_sink<StoreTotals>(args.require("output"), ReportLine, "Report"));
}
