/*
 * NexmarkReference.java: an independent reference implementation of the Apache Beam
 * Nexmark event generator (org.apache.beam.sdk.nexmark.sources.generator.*), written
 * from scratch. The tests use it to check Eddy's C++ Nexmark generator row by row.
 *
 * Usage (Java 17 single-file source launcher, no build step, no dependencies):
 *
 *     java tests/e2e/nexmark/NexmarkReference.java N OUTDIR
 *
 * It generates events 0..N-1 and writes three CSV files (no header, "\n" line endings,
 * one line per event of that kind, in event-id order):
 *
 *     OUTDIR/person.csv   id,"name","email_address","credit_card","city","state",date_time,"extra"
 *     OUTDIR/auction.csv  id,"item_name","description",initial_bid,reserve,date_time,expires,seller,category,"extra"
 *     OUTDIR/bid.csv      auction,bidder,price,date_time,"extra"
 *
 * Integers are decimal, times are epoch milliseconds, strings are wrapped in double quotes
 * without escaping (generated strings never contain '"'; this is checked at run time).
 * A test runs this program and the C++ generator with the same N and compares the files.
 *
 * Configuration: one logical generator (numEventGenerators = 1, firstEventId = 0,
 * firstEventNumber = 0) and the NexmarkConfiguration defaults for everything else:
 * firstEventRate = nextEventRate = 10000/s (so a single inter-event delay of 100 us),
 * outOfOrderGroupSize = 1, hotAuctionRatio = 2, hotSellersRatio = 4, hotBiddersRatio = 4,
 * numInFlightAuctions = 100, numActivePeople = 1000, avgPersonByteSize = 200,
 * avgAuctionByteSize = 500, avgBidByteSize = 100, baseTime = 2015-07-15T00:00:00Z.
 * Note: Beam's own default numEventGenerators is 100, which would make the delay
 * 10000 us; this reference deliberately uses 1.
 *
 * Bit-exactness with Beam relies on java.util.Random seeded with the event id, and on
 * calling it in exactly Beam's order, with Beam's Math.pow / Math.round arithmetic.
 */

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

public final class NexmarkReference {

  // ---- configuration -------------------------------------------------------------------

  static final long BASE_TIME_MS = 1436918400000L; // 2015-07-15T00:00:00Z
  static final int NUM_EVENT_GENERATORS = 1;
  static final int EVENT_RATE_PER_SEC = 10000; // firstEventRate == nextEventRate
  static final long OUT_OF_ORDER_GROUP_SIZE = 1;
  static final int HOT_AUCTION_RATIO = 2;
  static final int HOT_SELLERS_RATIO = 4;
  static final int HOT_BIDDERS_RATIO = 4;
  static final int NUM_IN_FLIGHT_AUCTIONS = 100;
  static final int NUM_ACTIVE_PEOPLE = 1000;
  static final int AVG_PERSON_BYTES = 200;
  static final int AVG_AUCTION_BYTES = 500;
  static final int AVG_BID_BYTES = 100;

  // RateUnit.PER_SECOND: period = (usPerUnit + rate/2) / rate, times the generator count.
  static final long INTER_EVENT_DELAY_US =
      ((1_000_000L + EVENT_RATE_PER_SEC / 2) / EVENT_RATE_PER_SEC) * NUM_EVENT_GENERATORS;

  // ---- fixed model constants -----------------------------------------------------------

  static final long FIRST_PERSON_ID = 1000;
  static final long FIRST_AUCTION_ID = 1000;
  static final long FIRST_CATEGORY_ID = 10;
  static final int PERSONS_PER_EPOCH = 1;
  static final int AUCTIONS_PER_EPOCH = 3;
  static final int BIDS_PER_EPOCH = 46;
  static final int EPOCH_LEN = PERSONS_PER_EPOCH + AUCTIONS_PER_EPOCH + BIDS_PER_EPOCH; // 50
  static final int PERSON_LEAD = 10;
  static final int AUCTION_LEAD = 10;
  static final int HOT_GROUP = 100; // hot seller / auction / bidder bucket width
  static final int CATEGORIES = 5;
  static final int MIN_STR_LEN = 3;

  static final String[] STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  static final String[] CITIES = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"
  };
  static final String[] FIRST_NAMES = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"
  };
  static final String[] LAST_NAMES = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"
  };

  // ---- timing --------------------------------------------------------------------------

  /** Event number after outOfOrderGroupSize jitter (identity when the group size is 1). */
  static long adjustedEventNumber(long eventNumber) {
    long g = OUT_OF_ORDER_GROUP_SIZE;
    return (eventNumber / g) * g + (eventNumber * 953) % g;
  }

  /** Event-time timestamp of an event number (single-rate case). */
  static long timestampOf(long eventNumber) {
    return BASE_TIME_MS + (eventNumber * INTER_EVENT_DELAY_US) / 1000L;
  }

  // ---- random helpers ------------------------------------------------------------------

  /** Uniform in [0, n): nextInt for small n, the (skewed) abs(nextLong % n) otherwise. */
  static long randLong(Random r, long n) {
    if (n < Integer.MAX_VALUE) {
      return r.nextInt((int) n);
    }
    return Math.abs(r.nextLong() % n);
  }

  static long randPrice(Random r) {
    double v = Math.pow(10.0, r.nextDouble() * 6.0) * 100.0;
    return Math.round(v);
  }

  /** A string of 3..maxLength-1 chars of 'a'..'z' and ' ' (1 in 13), trimmed. */
  static String randString(Random r, int maxLength) {
    int len = MIN_STR_LEN + r.nextInt(maxLength - MIN_STR_LEN);
    char[] buf = new char[len];
    for (int i = 0; i < len; i++) {
      buf[i] = (r.nextInt(13) == 0) ? ' ' : (char) ('a' + r.nextInt(26));
    }
    return new String(buf).trim();
  }

  /**
   * Exactly {@code length} chars; 6 chars are peeled off each nextInt() with a signed
   * remainder, so negative ints give chars in 'H'..'`' as well as 'a'..'z'.
   */
  static String randExactString(Random r, int length) {
    char[] buf = new char[Math.max(length, 0)];
    int bits = 0;
    int left = 0;
    for (int i = 0; i < length; i++) {
      if (left == 0) {
        bits = r.nextInt();
        left = 6;
      }
      buf[i] = (char) ('a' + bits % 26);
      bits /= 26;
      left--;
    }
    return new String(buf);
  }

  /** Padding so that currentSize + result length averages avgSize. */
  static String randExtra(Random r, int currentSize, int avgSize) {
    if (currentSize > avgSize) {
      return "";
    }
    int want = avgSize - currentSize;
    int delta = (int) Math.round(want * 0.2);
    int size = want - delta;
    if (delta != 0) {
      size += r.nextInt(2 * delta);
    }
    return randExactString(r, size);
  }

  // ---- id helpers ----------------------------------------------------------------------

  static long lastPersonId0(long eventId) {
    long epoch = eventId / EPOCH_LEN;
    long off = eventId % EPOCH_LEN;
    if (off >= PERSONS_PER_EPOCH) {
      off = PERSONS_PER_EPOCH - 1;
    }
    return epoch * PERSONS_PER_EPOCH + off;
  }

  static long lastAuctionId0(long eventId) {
    long epoch = eventId / EPOCH_LEN;
    long off = eventId % EPOCH_LEN;
    if (off < PERSONS_PER_EPOCH) {
      epoch -= 1;
      off = AUCTIONS_PER_EPOCH - 1;
    } else if (off >= PERSONS_PER_EPOCH + AUCTIONS_PER_EPOCH) {
      off = AUCTIONS_PER_EPOCH - 1;
    } else {
      off -= PERSONS_PER_EPOCH;
    }
    return epoch * AUCTIONS_PER_EPOCH + off;
  }

  static long randPersonId0(long eventId, Random r) {
    long people = lastPersonId0(eventId) + 1;
    long active = Math.min(people, NUM_ACTIVE_PEOPLE);
    return people - active + randLong(r, active + PERSON_LEAD);
  }

  static long randAuctionId0(long eventId, Random r) {
    long hi = lastAuctionId0(eventId);
    long lo = Math.max(hi - NUM_IN_FLIGHT_AUCTIONS, 0);
    return lo + randLong(r, hi - lo + 1 + AUCTION_LEAD);
  }

  static long auctionLengthMs(long eventsSoFar, Random r, long timestamp) {
    long cur = adjustedEventNumber(eventsSoFar);
    long eventsAhead = ((long) NUM_IN_FLIGHT_AUCTIONS * EPOCH_LEN) / AUCTIONS_PER_EPOCH;
    long horizon = timestampOf(cur + eventsAhead) - timestamp;
    return 1L + randLong(r, Math.max(horizon * 2, 1L));
  }

  // ---- output --------------------------------------------------------------------------

  static void quoted(StringBuilder sb, String s) {
    if (s.indexOf('"') >= 0) {
      throw new IllegalStateException("generated string contains a double quote: " + s);
    }
    sb.append('"').append(s).append('"');
  }

  static void appendPadded4(StringBuilder sb, int v) {
    if (v < 1000) sb.append('0');
    if (v < 100) sb.append('0');
    if (v < 10) sb.append('0');
    sb.append(v);
  }

  static void person(StringBuilder sb, long eventId, Random r, long ts) {
    long id = lastPersonId0(eventId) + FIRST_PERSON_ID;
    String name = FIRST_NAMES[r.nextInt(FIRST_NAMES.length)] + " "
        + LAST_NAMES[r.nextInt(LAST_NAMES.length)];
    String email = randString(r, 7) + "@" + randString(r, 5) + ".com";
    StringBuilder cc = new StringBuilder(19);
    for (int i = 0; i < 4; i++) {
      if (i > 0) cc.append(' ');
      appendPadded4(cc, r.nextInt(10000));
    }
    String card = cc.toString();
    String city = CITIES[r.nextInt(CITIES.length)];
    String state = STATES[r.nextInt(STATES.length)];
    int size = 8 + name.length() + email.length() + card.length() + city.length() + state.length();
    String extra = randExtra(r, size, AVG_PERSON_BYTES);

    sb.append(id).append(',');
    quoted(sb, name); sb.append(',');
    quoted(sb, email); sb.append(',');
    quoted(sb, card); sb.append(',');
    quoted(sb, city); sb.append(',');
    quoted(sb, state); sb.append(',');
    sb.append(ts).append(',');
    quoted(sb, extra); sb.append('\n');
  }

  static void auction(StringBuilder sb, long eventsSoFar, long eventId, Random r, long ts) {
    long id = lastAuctionId0(eventId) + FIRST_AUCTION_ID;
    long seller;
    if (r.nextInt(HOT_SELLERS_RATIO) > 0) {
      seller = (lastPersonId0(eventId) / HOT_GROUP) * HOT_GROUP;
    } else {
      seller = randPersonId0(eventId, r);
    }
    seller += FIRST_PERSON_ID;
    long category = FIRST_CATEGORY_ID + r.nextInt(CATEGORIES);
    long initialBid = randPrice(r);
    long expires = ts + auctionLengthMs(eventsSoFar, r, ts);
    String itemName = randString(r, 20);
    String desc = randString(r, 100);
    long reserve = initialBid + randPrice(r);
    int size = 8 + itemName.length() + desc.length() + 8 * 5;
    String extra = randExtra(r, size, AVG_AUCTION_BYTES);

    sb.append(id).append(',');
    quoted(sb, itemName); sb.append(',');
    quoted(sb, desc); sb.append(',');
    sb.append(initialBid).append(',');
    sb.append(reserve).append(',');
    sb.append(ts).append(',');
    sb.append(expires).append(',');
    sb.append(seller).append(',');
    sb.append(category).append(',');
    quoted(sb, extra); sb.append('\n');
  }

  static void bid(StringBuilder sb, long eventId, Random r, long ts) {
    long auctionId;
    if (r.nextInt(HOT_AUCTION_RATIO) > 0) {
      auctionId = (lastAuctionId0(eventId) / HOT_GROUP) * HOT_GROUP;
    } else {
      auctionId = randAuctionId0(eventId, r);
    }
    auctionId += FIRST_AUCTION_ID;
    long bidder;
    if (r.nextInt(HOT_BIDDERS_RATIO) > 0) {
      bidder = (lastPersonId0(eventId) / HOT_GROUP) * HOT_GROUP + 1;
    } else {
      bidder = randPersonId0(eventId, r);
    }
    bidder += FIRST_PERSON_ID;
    long price = randPrice(r);
    String extra = randExtra(r, 8 * 4, AVG_BID_BYTES);

    sb.append(auctionId).append(',');
    sb.append(bidder).append(',');
    sb.append(price).append(',');
    sb.append(ts).append(',');
    quoted(sb, extra); sb.append('\n');
  }

  static Writer open(Path p) throws IOException {
    return new BufferedWriter(
        new OutputStreamWriter(Files.newOutputStream(p), StandardCharsets.UTF_8), 1 << 20);
  }

  public static void main(String[] args) throws IOException {
    if (args.length != 2) {
      System.err.println("usage: java NexmarkReference.java N OUTDIR");
      System.exit(2);
    }
    long n = Long.parseLong(args[0]);
    Path dir = Path.of(args[1]);
    Files.createDirectories(dir);

    final long firstEventId = 0;
    final long firstEventNumber = 0;
    long persons = 0, auctions = 0, bids = 0;
    StringBuilder sb = new StringBuilder(1024);
    try (Writer pw = open(dir.resolve("person.csv"));
        Writer aw = open(dir.resolve("auction.csv"));
        Writer bw = open(dir.resolve("bid.csv"))) {
      for (long count = 0; count < n; count++) {
        long adjusted = adjustedEventNumber(firstEventNumber + count);
        long ts = timestampOf(adjusted);
        long eventId = firstEventId + adjusted;
        Random r = new Random(eventId);
        long kind = eventId % EPOCH_LEN;
        sb.setLength(0);
        if (kind < PERSONS_PER_EPOCH) {
          person(sb, eventId, r, ts);
          pw.append(sb);
          persons++;
        } else if (kind < PERSONS_PER_EPOCH + AUCTIONS_PER_EPOCH) {
          auction(sb, count, eventId, r, ts);
          aw.append(sb);
          auctions++;
        } else {
          bid(sb, eventId, r, ts);
          bw.append(sb);
          bids++;
        }
      }
    }
    System.err.printf("NexmarkReference: %d events -> %d persons, %d auctions, %d bids%n",
        n, persons, auctions, bids);
  }
}
