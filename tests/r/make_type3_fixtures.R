#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_type3_fixtures.R -- lmerTest type III tables where X is not plain
## treatment coding: ordered factors (polynomial contrasts) and a rank-deficient
## X (lme4's cake example, ?drop1.lmerModLmerTest), and lme4's RatPupWeight
## style data from nlme.
##
## Run from the repository root:
##
##     Rscript tests/r/make_type3_fixtures.R
##
## Writes tests/fixtures/type3_data_cake.csv and type3_data_ratpup.csv (the
## data as R has them; ordered factors' levels recorded in the JSON) and
## tests/fixtures/type3.json: for each model, anova(m) (type III, Satterthwaite),
## anova(m, ddf = "Kenward-Roger") and anova(m, type = 1): values, hypothesis
## matrices (show_tests) and printed text. Fitted with a tight BOBYQA.
## R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2, nlme 3.1.162.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_type3_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
OUT <- file.path("tests", "fixtures", "type3.json")
source(file.path("tests", "r", "json_helpers.R"))

cake <- lme4::cake
rat <- as.data.frame(nlme::RatPupWeight)
rat <- data.frame(weight = rat$weight, sex = factor(as.character(rat$sex), levels = levels(rat$sex)),
                  Treatment = rat$Treatment, Lsize = rat$Lsize,
                  Litter = factor(as.character(rat$Litter)))
write.csv(cake, file.path("tests", "fixtures", "type3_data_cake.csv"), row.names = FALSE)
write.csv(rat, file.path("tests", "fixtures", "type3_data_ratpup.csv"), row.names = FALSE)

printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
tab_json <- function(tab) {
  hyp <- attr(tab, "hypotheses")
  list(rows = arr(rownames(tab)), columns = arr(colnames(tab)),
       values = lapply(colnames(tab), function(cn) I(as.double(tab[[cn]]))),
       hypotheses = lapply(hyp, function(L) list(columns = arr(colnames(L)),
                                                 values = lapply(seq_len(nrow(L)), function(i) I(as.double(L[i, ]))))),
       text = printed(tab))
}
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
cases <- list(
  list(id = "cake_rank_deficient", data = "cake",
       formula = "angle ~ recipe + temp + temperature + (1 | recipe:replicate)"),
  list(id = "cake_ordered", data = "cake", formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  list(id = "ratpup_ordered", data = "rat", formula = "weight ~ sex + Treatment + Lsize + (1 | Litter)")
)
models <- lapply(cases, function(cs) {
  ## m <- lmer(FORMULA, data = DATA, control = TIGHT)
  m <- suppressMessages(suppressWarnings(eval(bquote(lmer(.(as.formula(cs$formula)),
                                                          data = .(as.name(cs$data)), control = TIGHT)))))
  c(cs, list(
    ## anova(m)
    type3 = tab_json(suppressMessages(anova(m))),
    ## anova(m, ddf = "Kenward-Roger")
    type3_kr = tab_json(suppressMessages(anova(m, ddf = "Kenward-Roger"))),
    ## anova(m, type = 1)
    type1 = tab_json(suppressMessages(anova(m, type = 1)))))
})
res <- list(generated_by = "tests/r/make_type3_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            pbkrtest = as.character(packageVersion("pbkrtest"))),
            ordered_levels = list(cake = list(temperature = arr(levels(cake$temperature))),
                                  rat = list(Treatment = arr(levels(rat$Treatment)))),
            factor_levels = list(cake = list(recipe = arr(levels(cake$recipe)),
                                             replicate = arr(levels(cake$replicate))),
                                 rat = list(sex = arr(levels(rat$sex)))),
            models = models)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
