package io.razorstream.app;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/** No package cycles in the service (each package a slice, the root included); its command line sits on top of it. */
class ArchitectureTest {
    static final JavaClasses APP = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.razorstream.app");

    @Test
    void noPackageCycles() {
        slices().matching("io.razorstream.(**)").should().beFreeOfCycles().check(APP);
    }

    @Test
    void theServiceDependsOnNoCommandLineOrBenchmark() {
        noClasses()
                .that()
                .resideOutsideOfPackage("io.razorstream.app.cli..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "io.razorstream.app.cli..",
                        "io.razorstream.store.bench..",
                        "io.razorstream.engine.bench..",
                        "io.razorstream.engine.cli..",
                        "picocli..",
                        "org.knowm..")
                .check(APP);
    }
}
