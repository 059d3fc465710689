-- Failed sign-ins per account and address and per account, known and unknown logins alike
-- (src/security/lockout.ts).
CREATE TABLE "SignInFailure" (
    "account" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "since" TIMESTAMP(3),
    "lockedUntil" TIMESTAMP(3),
    "locks" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SignInFailure_pkey" PRIMARY KEY ("account","source")
);

CREATE INDEX "SignInFailure_updatedAt_idx" ON "SignInFailure"("updatedAt");
