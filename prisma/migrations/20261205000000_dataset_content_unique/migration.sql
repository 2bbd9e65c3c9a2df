-- One data set per owner and content: two uploads of the same content at once made two rows.
DROP INDEX "datasets_owner_id_checksum_idx";
CREATE UNIQUE INDEX "datasets_owner_id_checksum_key" ON "datasets"("owner_id", "checksum");
