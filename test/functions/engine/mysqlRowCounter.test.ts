import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { MysqlRowCounter } from '../../../functions/lib/engine/mysqlRowCounter.ts';

/** What MySQL's mysqldump (and MariaDB before 10.11) writes: each INSERT on one line. */
const ONE_LINE_FORMAT = `-- MySQL dump 10.13  Distrib 8.0.36
--
-- Table structure for table \`a\`
--

DROP TABLE IF EXISTS \`a\`;
CREATE TABLE \`a\` (
  \`id\` int NOT NULL,
  \`s\` text
) ENGINE=InnoDB;

--
-- Dumping data for table \`a\`
--

LOCK TABLES \`a\` WRITE;
/*!40000 ALTER TABLE \`a\` DISABLE KEYS */;
INSERT INTO \`a\` VALUES (1,'x),(y'),(2,'it\\'s \\\\'),(3,'semi;colon (paren'),(4,NULL);
INSERT INTO \`a\` VALUES (5,0x28292C),(6,'\\\\'),(7,')');
/*!40000 ALTER TABLE \`a\` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Dumping data for table \`we\`\`ird\`
--

LOCK TABLES \`we\`\`ird\` WRITE;
INSERT INTO \`we\`\`ird\` VALUES (1);
UNLOCK TABLES;

--
-- Dumping data for table \`empty\`
--

LOCK TABLES \`empty\` WRITE;
/*!40000 ALTER TABLE \`empty\` DISABLE KEYS */;
/*!40000 ALTER TABLE \`empty\` ENABLE KEYS */;
UNLOCK TABLES;
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER t AFTER INSERT ON a FOR EACH ROW
INSERT INTO \`a\` VALUES (9),(9),(9) */;;
DELIMITER ;
--
-- Dumping routines for database 'db'
--
DELIMITER ;;
CREATE PROCEDURE p()
INSERT INTO \`empty\` VALUES (1),(2)
;;
DELIMITER ;
`;

/** What MariaDB ≥ 10.11's mysqldump writes: VALUES, then one row per line. */
const ROW_PER_LINE_FORMAT = `/*M!999999\\- enable the sandbox mode */
--
-- Dumping data for table \`a\`
--

LOCK TABLES \`a\` WRITE;
/*!40000 ALTER TABLE \`a\` DISABLE KEYS */;
INSERT INTO \`a\` VALUES
(1,'x),(y',0x00FF),
(2,'it\\'s \\\\ (q',NULL),
(3,'line\\nbreak;','');
INSERT INTO \`a\` VALUES
(4,'');
/*!40000 ALTER TABLE \`a\` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Dumping data for table \`b\`
--

LOCK TABLES \`b\` WRITE;
INSERT INTO \`b\` VALUES
(1);
UNLOCK TABLES;
`;

async function count(dump: string, chunkSize: number) {
  const bytes = Buffer.from(dump);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) pieces.push(bytes.subarray(i, i + chunkSize));
  const counter = new MysqlRowCounter();
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces, { objectMode: false }),
    counter,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  expect(Buffer.concat(out).equals(bytes)).toBe(true); // passes everything through untouched
  return counter.tables.map((t) => ({ ...t }));
}

describe('MySQL row counter', () => {
  it('counts one-line INSERTs, skipping quoted parentheses, escapes, hex, triggers and routines', async () => {
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1 << 16]) {
      expect(await count(ONE_LINE_FORMAT, size), `chunks of ${size}`).toEqual([
        { name: 'a', rows: 7 },
        { name: 'we`ird', rows: 1 },
        { name: 'empty', rows: 0 },
      ]);
    }
  });

  it('counts row-per-line INSERTs at any chunking', async () => {
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1 << 16]) {
      expect(await count(ROW_PER_LINE_FORMAT, size), `chunks of ${size}`).toEqual([
        { name: 'a', rows: 4 },
        { name: 'b', rows: 1 },
      ]);
    }
  });
});
