#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_aov_npk_fixture.R -- R's aov with an error stratum in which a fixed term
## is confounded: npk (datasets), N:P:K confounded with blocks.
##
## Run from the repository root:   Rscript tests/r/make_aov_npk_fixture.R
##
## Writes tests/fixtures/aov_npk.json: the data and, per stratum of
## summary(aov(yield ~ N*P*K + Error(block), npk)), the rows (Df, Sum Sq,
## Mean Sq, F value, Pr(>F)). R 4.2.2.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages(library(jsonlite))
if (!file.exists(file.path("tests", "r", "make_aov_npk_fixture.R")))
  stop("run this script from the repository root")
source(file.path("tests", "r", "json_helpers.R"))
s <- summary(aov(yield ~ N * P * K + Error(block), npk))
strata <- lapply(names(s), function(nm) {
  tab <- s[[nm]][[1]]
  list(stratum = nm, rows = arr(trimws(rownames(tab))),
       values = lapply(colnames(tab), function(cn) I(as.double(tab[[cn]]))), columns = arr(colnames(tab)))
})
res <- list(generated_by = "tests/r/make_aov_npk_fixture.R", R = R.version.string,
            call = "summary(aov(yield ~ N * P * K + Error(block), npk))",
            data = lapply(npk, function(col) if (is.factor(col)) arr(as.character(col)) else I(as.double(col))),
            strata = strata)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA),
           file.path("tests", "fixtures", "aov_npk.json"))
cat("wrote tests/fixtures/aov_npk.json\n")
