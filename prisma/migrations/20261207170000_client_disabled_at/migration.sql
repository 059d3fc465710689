-- When the client was last disabled: tokens issued to it until then stay inactive after it is
-- enabled again (src/oidc/client-metadata.ts).
ALTER TABLE "Client" ADD COLUMN "disabledAt" TIMESTAMP(3);

-- Disabling or deleting a client revokes the grants given to it.
CREATE INDEX "UserGrant_clientId_idx" ON "UserGrant"("clientId");
