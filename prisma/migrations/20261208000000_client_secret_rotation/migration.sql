-- A rotated client secret keeps working until previousSecretExpiresAt (no downtime at the relying
-- party). registeredBy tells clients registered through the RFC 7591 endpoint from the others.
ALTER TABLE "Client" ADD COLUMN "previousSecretHash" TEXT;
ALTER TABLE "Client" ADD COLUMN "previousSecretExpiresAt" TIMESTAMP(3);
ALTER TABLE "Client" ADD COLUMN "registeredBy" TEXT NOT NULL DEFAULT 'admin';
