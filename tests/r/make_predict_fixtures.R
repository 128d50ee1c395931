#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_predict_fixtures.R -- lme4 references for mixedmodels.post.predict
##
## Run from the repository root (after make_fixtures.R has exported the data):
##
##     Rscript tests/r/make_predict_fixtures.R
##
## Writes tests/fixtures/predict.json: for a few models, lme4's predict() on
## new data (all random effects, re.form = NA, re.form = ~(1|g) subsets,
## allow.new.levels = TRUE, missing predictors), fitted(), residuals()
## (response, pearson, pearson scaled) and coef().
##
## R 4.2.2, lme4 1.1.31, jsonlite 1.8.4 (recorded in the file). Doubles are
## written with sprintf("%.17g") as in make_fixtures.R, since jsonlite stops at
## 15 significant digits; NA is written as null.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_predict_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)

DATA_DIR <- file.path("mixedmodels", "datasets", "data")
OUT <- file.path("tests", "fixtures", "predict.json")

source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr, read_dataset

## ---- data as the Python side loads it --------------------------------------
for (nm in c("sleepstudy", "Orthodont", "Penicillin", "Pastes"))
  assign(nm, read_dataset(nm), envir = globalenv())

## newdata as JSON columns: factors as strings, NA as null
newdata_json <- function(nd) {
  lapply(nd, function(col) if (is.numeric(col)) I(as.double(col)) else arr(as.character(col)))
}
## One prediction reference: the R call (text), its arguments and the values.
pred_ref <- function(call_text, m, newdata, newdata_name, re_form, allow_new_levels = FALSE) {
  env <- new.env(parent = globalenv())
  assign("m", m, envir = env)
  if (!is.null(newdata)) assign(newdata_name, newdata, envir = env)
  values <- eval(parse(text = call_text)[[1L]], envir = env)
  list(call = call_text,
       newdata = if (is.null(newdata)) NULL else newdata_name,
       re_form = re_form,               # as the Python argument: null = all, "~0", or a formula
       allow_new_levels = allow_new_levels,
       values = I(as.double(values)))
}
coef_json <- function(m) {
  cf <- coef(m)
  lapply(cf, function(df) list(rows = arr(rownames(df)), columns = arr(colnames(df)),
                               values = lapply(seq_len(nrow(df)), function(i) I(as.double(unlist(df[i, ]))))))
}
common <- function(m) {
  list(fitted = I(as.double(fitted(m))),
       ## residuals(m) (type "response"), residuals(m, type = "pearson"),
       ## residuals(m, type = "pearson", scaled = TRUE)
       residuals_response = I(as.double(residuals(m))),
       residuals_pearson = I(as.double(residuals(m, type = "pearson"))),
       residuals_pearson_scaled = I(as.double(residuals(m, type = "pearson", scaled = TRUE))),
       sigma = sigma(m),
       fixef = I(as.double(fixef(m))),
       ## coef(m): list of data frames, fixed + random per level
       coef = coef_json(m))
}

models <- list()

## ===========================================================================
## 1. sleepstudy: lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
## ===========================================================================
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
nd_seen <- data.frame(Days = c(0, 2.5, 9, 12, 4),
                      Subject = factor(c("308", "309", "330", "372", "308")))
nd_new <- data.frame(Days = c(1, 3, 5, 7),
                     Subject = factor(c("308", "999", "1000", "999")))
nd_na <- data.frame(Days = c(1, NA, 3),
                    Subject = factor(c("333", "334", NA)))
preds <- list(
  ## predict(m, newdata = nd_seen)
  pred_ref("predict(m, newdata = nd_seen)", m, nd_seen, "nd_seen", NULL),
  ## predict(m, newdata = nd_seen, re.form = NA)
  pred_ref("predict(m, newdata = nd_seen, re.form = NA)", m, nd_seen, "nd_seen", "~0"),
  ## predict(m, newdata = nd_seen, re.form = ~(1 | Subject))  -- intercepts only
  pred_ref("predict(m, newdata = nd_seen, re.form = ~(1 | Subject))", m, nd_seen, "nd_seen",
           "~(1 | Subject)"),
  ## predict(m, newdata = nd_seen, re.form = ~(0 + Days | Subject))  -- slopes only
  pred_ref("predict(m, newdata = nd_seen, re.form = ~(0 + Days | Subject))", m, nd_seen, "nd_seen",
           "~(0 + Days | Subject)"),
  ## predict(m, newdata = nd_new, allow.new.levels = TRUE)
  pred_ref("predict(m, newdata = nd_new, allow.new.levels = TRUE)", m, nd_new, "nd_new", NULL, TRUE),
  ## predict(m, newdata = nd_na, allow.new.levels = TRUE)  -- NA Days -> NA; NA Subject -> population
  pred_ref("predict(m, newdata = nd_na, allow.new.levels = TRUE)", m, nd_na, "nd_na", NULL, TRUE),
  ## predict(m, re.form = NA)  -- population level on the fitted rows
  pred_ref("predict(m, re.form = NA)", m, NULL, NULL, "~0"),
  ## predict(m, re.form = ~(1 | Subject))  -- on the fitted rows
  pred_ref("predict(m, re.form = ~(1 | Subject))", m, NULL, NULL, "~(1 | Subject)")
)
models[[length(models) + 1L]] <- c(list(
  id = "sleepstudy_slope", formula = "Reaction ~ Days + (Days | Subject)", data = "sleepstudy",
  reml = TRUE,
  newdata = list(nd_seen = newdata_json(nd_seen), nd_new = newdata_json(nd_new), nd_na = newdata_json(nd_na)),
  ## predict(m, newdata = nd_new) is an error: "new levels detected in newdata: 999, 1000"
  new_levels_error = tryCatch({ predict(m, newdata = nd_new); "" }, error = conditionMessage),
  predictions = preds), common(m))

## ===========================================================================
## 2. poly() and scale() on new data use the training coefficients
##    lmer(distance ~ poly(age, 2) + Sex + (scale(age) | Subject), Orthodont)
## ===========================================================================
m <- lmer(distance ~ poly(age, 2) + Sex + (scale(age) | Subject), Orthodont)
nd_ps <- data.frame(age = c(8, 9, 11.5, 14, 16, 7),
                    Sex = factor(c("Female", "Female", "Male", "Female", "Male", "Male")),
                    Subject = factor(c("F01", "F03", "M05", "F11", "M16", "M01")))
nd_female <- data.frame(age = c(9, 13), Sex = factor(c("Female", "Female")),
                        Subject = factor(c("F02", "F02")))
preds <- list(
  ## predict(m, newdata = nd_ps)
  pred_ref("predict(m, newdata = nd_ps)", m, nd_ps, "nd_ps", NULL),
  ## predict(m, newdata = nd_ps, re.form = NA)
  pred_ref("predict(m, newdata = nd_ps, re.form = NA)", m, nd_ps, "nd_ps", "~0"),
  ## predict(m, newdata = nd_ps, re.form = ~(1 | Subject))
  pred_ref("predict(m, newdata = nd_ps, re.form = ~(1 | Subject))", m, nd_ps, "nd_ps", "~(1 | Subject)"),
  ## predict(m, newdata = nd_female)  -- a factor with one level present in newdata
  pred_ref("predict(m, newdata = nd_female)", m, nd_female, "nd_female", NULL)
)
models[[length(models) + 1L]] <- c(list(
  id = "orthodont_poly_scale", formula = "distance ~ poly(age, 2) + Sex + (scale(age) | Subject)",
  data = "Orthodont", reml = TRUE,
  newdata = list(nd_ps = newdata_json(nd_ps), nd_female = newdata_json(nd_female)),
  predictions = preds), common(m))

## ===========================================================================
## 3. crossed: lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
## ===========================================================================
m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
nd_pen <- data.frame(plate = factor(c("a", "b", "x", "new1", "c")),
                     sample = factor(c("A", "F", "C", "B", "new2")))
nd_pen_seen <- nd_pen[c(1, 2, 3), ]
preds <- list(
  ## predict(m, newdata = nd_pen_seen)
  pred_ref("predict(m, newdata = nd_pen_seen)", m, nd_pen_seen, "nd_pen_seen", NULL),
  ## predict(m, newdata = nd_pen_seen, re.form = ~(1 | plate))
  pred_ref("predict(m, newdata = nd_pen_seen, re.form = ~(1 | plate))", m, nd_pen_seen, "nd_pen_seen",
           "~(1 | plate)"),
  ## predict(m, newdata = nd_pen_seen, re.form = ~(1 | sample))
  pred_ref("predict(m, newdata = nd_pen_seen, re.form = ~(1 | sample))", m, nd_pen_seen, "nd_pen_seen",
           "~(1 | sample)"),
  ## predict(m, newdata = nd_pen, allow.new.levels = TRUE)
  pred_ref("predict(m, newdata = nd_pen, allow.new.levels = TRUE)", m, nd_pen, "nd_pen", NULL, TRUE),
  ## predict(m, newdata = nd_pen, re.form = ~(1 | sample), allow.new.levels = TRUE)
  pred_ref("predict(m, newdata = nd_pen, re.form = ~(1 | sample), allow.new.levels = TRUE)", m, nd_pen,
           "nd_pen", "~(1 | sample)", TRUE)
)
models[[length(models) + 1L]] <- c(list(
  id = "penicillin_crossed", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", data = "Penicillin",
  reml = TRUE,
  newdata = list(nd_pen = newdata_json(nd_pen), nd_pen_seen = newdata_json(nd_pen_seen)),
  predictions = preds), common(m))

## ===========================================================================
## 4. nested: lmer(strength ~ 1 + (1 | batch/cask), Pastes)  (terms cask:batch and batch)
## ===========================================================================
m <- lmer(strength ~ 1 + (1 | batch/cask), Pastes)
nd_pa <- data.frame(batch = factor(c("A", "B", "J", "K")), cask = factor(c("a", "c", "b", "a")))
preds <- list(
  ## predict(m, newdata = nd_pa, allow.new.levels = TRUE)
  pred_ref("predict(m, newdata = nd_pa, allow.new.levels = TRUE)", m, nd_pa, "nd_pa", NULL, TRUE),
  ## predict(m, newdata = nd_pa, re.form = ~(1 | batch), allow.new.levels = TRUE)
  pred_ref("predict(m, newdata = nd_pa, re.form = ~(1 | batch), allow.new.levels = TRUE)", m, nd_pa,
           "nd_pa", "~(1 | batch)", TRUE)
)
models[[length(models) + 1L]] <- c(list(
  id = "pastes_nested", formula = "strength ~ 1 + (1 | batch/cask)", data = "Pastes", reml = TRUE,
  newdata = list(nd_pa = newdata_json(nd_pa)),
  predictions = preds), common(m))

out <- list(r_version = R.version.string,
            lme4_version = as.character(utils::packageVersion("lme4")),
            jsonlite_version = as.character(utils::packageVersion("jsonlite")),
            generated_by = "Rscript tests/r/make_predict_fixtures.R",
            models = models)
jsonlite::write_json(encode_doubles(out), OUT, digits = NA, auto_unbox = TRUE, pretty = TRUE,
                     null = "null", na = "null", json_verbatim = TRUE)
invisible(jsonlite::read_json(OUT))
cat("wrote", OUT, "(", file.size(OUT), "bytes )\n")
