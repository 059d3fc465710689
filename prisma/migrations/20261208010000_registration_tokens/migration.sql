-- Initial access tokens for dynamic client registration: the policy, uses and revocation of each
-- (the token itself lives in the store of oidc-provider).
CREATE TABLE "RegistrationToken" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT,
    "description" TEXT NOT NULL DEFAULT '',
    "allowedRedirectHosts" TEXT[],
    "allowedGrantTypes" TEXT[],
    "clientType" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "maxUses" INTEGER NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "clientIds" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "revokedAt" TIMESTAMP(3),
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RegistrationToken_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "RegistrationToken_tenantId_idx" ON "RegistrationToken"("tenantId");
